//! The architectures the runner boots, and how.

/// One architecture: its Rust target, Debian's names for it, and its qemu machine.
#[derive(Debug)]
pub struct Arch {
    /// The name on the command line and in the output.
    pub name: &'static str,
    /// The Rust target the suite is built for.
    pub target: &'static str,
    /// Debian's cross gcc, used as the linker (package `gcc-<triple>`).
    pub linker: &'static str,
    /// Debian's architecture name.
    pub deb_arch: &'static str,
    /// The kernel flavour metapackage; its dependency names the current kernel package.
    pub kernel_meta: &'static str,
    /// The qemu system emulator.
    pub qemu: &'static str,
    /// Machine and CPU arguments.
    pub machine: &'static [&'static str],
    /// The kernel's console device.
    pub console: &'static str,
    /// The row of docs/abi.md's target table this run verifies.
    pub doc_row: &'static str,
    /// The Debian releases whose kernels it boots by default, oldest first.
    pub releases: &'static [&'static str],
}

/// Debian's releases, oldest first, with the kernel series each ships.
pub const RELEASES: [(&str, &str); 3] = [
    ("bullseye", "5.10"),
    ("bookworm", "6.1"),
    ("trixie", "6.12"),
];

/// One boot: an architecture and the Debian release whose kernel it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Run {
    pub arch: &'static Arch,
    pub release: &'static str,
}

impl Run {
    /// `aarch64/bullseye`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.arch.name, self.release)
    }
}

impl PartialOrd for Arch {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Arch {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name.cmp(other.name)
    }
}

impl PartialEq for Arch {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Arch {}

impl std::hash::Hash for Arch {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name.hash(h);
    }
}

/// The release named `name`.
pub fn release(name: &str) -> Option<&'static str> {
    RELEASES.iter().map(|r| r.0).find(|r| *r == name)
}

pub static ALL: [Arch; 7] = [
    Arch {
        name: "x86_64",
        target: "x86_64-unknown-linux-gnu",
        linker: "x86_64-linux-gnu-gcc",
        deb_arch: "amd64",
        kernel_meta: "linux-image-amd64",
        qemu: "qemu-system-x86_64",
        machine: &["-M", "pc", "-cpu", "max"],
        console: "ttyS0",
        doc_row: "x86_64",
        releases: &["bullseye", "bookworm", "trixie"],
    },
    Arch {
        name: "aarch64",
        target: "aarch64-unknown-linux-gnu",
        linker: "aarch64-linux-gnu-gcc",
        deb_arch: "arm64",
        kernel_meta: "linux-image-arm64",
        qemu: "qemu-system-aarch64",
        machine: &["-M", "virt", "-cpu", "cortex-a57"],
        console: "ttyAMA0",
        doc_row: "aarch64",
        releases: &["bullseye", "bookworm", "trixie"],
    },
    Arch {
        name: "s390x",
        target: "s390x-unknown-linux-gnu",
        linker: "s390x-linux-gnu-gcc",
        deb_arch: "s390x",
        kernel_meta: "linux-image-s390x",
        qemu: "qemu-system-s390x",
        machine: &["-M", "s390-ccw-virtio"],
        console: "ttysclp0",
        doc_row: "s390x",
        releases: &["bookworm"],
    },
    Arch {
        name: "i686",
        target: "i686-unknown-linux-gnu",
        linker: "i686-linux-gnu-gcc",
        deb_arch: "i386",
        kernel_meta: "linux-image-686",
        qemu: "qemu-system-i386",
        // Rust's i686 target needs SSE2.
        machine: &["-M", "pc", "-cpu", "max"],
        console: "ttyS0",
        doc_row: "x86",
        releases: &["bookworm"],
    },
    Arch {
        name: "armv7",
        target: "armv7-unknown-linux-gnueabihf",
        linker: "arm-linux-gnueabihf-gcc",
        deb_arch: "armhf",
        kernel_meta: "linux-image-armmp",
        qemu: "qemu-system-arm",
        // highmem=off keeps every device below 4 GiB for the non-LPAE kernel.
        machine: &["-M", "virt,highmem=off", "-cpu", "cortex-a15"],
        console: "ttyAMA0",
        doc_row: "arm",
        releases: &["bookworm"],
    },
    Arch {
        name: "ppc64le",
        target: "powerpc64le-unknown-linux-gnu",
        linker: "powerpc64le-linux-gnu-gcc",
        deb_arch: "ppc64el",
        kernel_meta: "linux-image-powerpc64le",
        qemu: "qemu-system-ppc64",
        machine: &["-M", "pseries", "-cpu", "power9"],
        console: "hvc0",
        doc_row: "powerpc64",
        releases: &["bookworm"],
    },
    Arch {
        name: "riscv64",
        target: "riscv64gc-unknown-linux-gnu",
        linker: "riscv64-linux-gnu-gcc",
        deb_arch: "riscv64",
        kernel_meta: "linux-image-riscv64",
        qemu: "qemu-system-riscv64",
        machine: &["-M", "virt"],
        console: "ttyS0",
        doc_row: "riscv64",
        // riscv64 is a Debian release architecture from trixie on.
        releases: &["trixie"],
    },
];

pub fn find(name: &str) -> Option<&'static Arch> {
    ALL.iter().find(|a| a.name == name)
}

pub fn names() -> String {
    ALL.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
}

impl Arch {
    /// `CARGO_TARGET_<TRIPLE>_` for cargo's per-target environment variables.
    pub fn cargo_env_prefix(&self) -> String {
        format!(
            "CARGO_TARGET_{}_",
            self.target.to_uppercase().replace('-', "_")
        )
    }
}
