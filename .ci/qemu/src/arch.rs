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
}

pub static ALL: [Arch; 4] = [
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
