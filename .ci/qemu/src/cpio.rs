//! A writer for the "newc" cpio format (`070701`), the one the kernel unpacks as an
//! initramfs: a 110-byte ASCII header of thirteen 8-digit hex fields, the name with its
//! NUL, padding to 4 bytes, the data, padding to 4 bytes; a `TRAILER!!!` entry ends it.

use std::io::{self, Write};

/// `S_IFDIR`, `S_IFREG` and `S_IFCHR` of `stat(2)`.
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFCHR: u32 = 0o020000;

/// Writes entries one after another; [`Writer::finish`] adds the trailer.
pub struct Writer<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    /// A directory. Parents must come first: the kernel does not create them.
    pub fn dir(&mut self, name: &str) -> io::Result<()> {
        self.entry(name, S_IFDIR | 0o755, 2, (0, 0), &[])
    }

    /// A regular file with `data`.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, S_IFREG | mode, 1, (0, 0), data)
    }

    /// A character device node.
    pub fn char_dev(&mut self, name: &str, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(name, S_IFCHR | mode, 1, (major, minor), &[])
    }

    /// Writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.ino_entry("TRAILER!!!", 0, 0, 1, (0, 0), &[])?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> io::Result<()> {
        let name = name.trim_start_matches('/');
        assert!(!name.is_empty(), "an entry needs a name");
        let ino = self.next_ino;
        self.next_ino += 1;
        self.ino_entry(name, ino, mode, nlink, rdev, data)
    }

    fn ino_entry(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        (rmajor, rminor): (u32, u32),
        data: &[u8],
    ) -> io::Result<()> {
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::other(format!("{name}: too large for cpio")))?;
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            size,
            0, // devmajor
            0, // devminor
            rmajor,
            rminor,
            name.len() as u32 + 1, // namesize, with the NUL
            0,                     // check
        ];
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        debug_assert_eq!(header.len(), 110);
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0; 3][..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_4_byte_aligned_and_well_formed() {
        let mut w = Writer::new(Vec::new());
        w.dir("/dev").unwrap();
        w.char_dev("/dev/console", 0o600, 5, 1).unwrap();
        w.file("/init", 0o755, b"hello").unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.len() % 4, 0);
        // The first header: magic, ino 1, a directory.
        assert_eq!(&out[..6], b"070701");
        assert_eq!(&out[6..14], b"00000001");
        assert_eq!(&out[14..22], b"000041ed");
        // Its name right after the header, NUL-terminated, then padding to 4.
        assert_eq!(&out[110..114], b"dev\0");
        // The file's data follows its padded name.
        let at = out.windows(5).position(|w| w == b"init\0").unwrap();
        let data = at + 5 + (4 - (at + 5) % 4) % 4;
        assert_eq!(&out[data..data + 5], b"hello");
        // The device node carries 5:1 in rdevmajor/rdevminor.
        let dev = out
            .windows(13)
            .position(|w| w == b"dev/console\0\0")
            .unwrap();
        let hdr = &out[dev - 110..dev];
        assert_eq!(&hdr[6 + 8 * 9..6 + 8 * 10], b"00000005");
        assert_eq!(&hdr[6 + 8 * 10..6 + 8 * 11], b"00000001");
        // The trailer is last.
        let tail = String::from_utf8_lossy(&out[out.len() - 16..]);
        assert!(tail.contains("TRAILER!!!"), "{tail:?}");
    }
}
