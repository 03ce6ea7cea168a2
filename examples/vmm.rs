//! A virtio-blk style backend: a guest's requests, each a chain of descriptors naming
//! parts of guest memory, served with vectored I/O straight into and out of that memory,
//! with no copy and no `unsafe`.
//!
//! Guest RAM is an anonymous mapping the "VMM" owns (memmap2's safe `map_anon`); the disk
//! is a file, `O_DIRECT` where the file system allows it. Each queue notification is
//! served in a `Context::scope`, whose requests borrow the parts of guest memory their
//! descriptors name: the scope does not return before every request has completed, so the
//! borrow checker, not a convention, keeps the kernel from reaching guest memory later.
//! The run checks every byte: reads land where the descriptors say, writes reach the disk.
//!
//! Run: `cargo run --release --example vmm [DIR]` (default: the system temporary directory).

use memmap2::MmapMut;
use rawaio::{Context, Op};
use std::error::Error;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

const SECTOR: u64 = 512;
const GUEST_RAM: usize = 16 << 20;
const DISK: usize = 4 << 20;
const PAGE: usize = 4096;

/// One guest request: a direction, a disk sector and the guest memory it covers.
struct Request {
    write: bool,
    sector: u64,
    /// (guest address, length): page-aligned, so `O_DIRECT` accepts them.
    descriptors: Vec<(usize, usize)>,
}

/// Splits `mem` into the disjoint parts `ranges` name (sorted by address), or `None` if
/// two overlap or one lies outside: those a real device would fail or serve one by one.
fn carve<'m>(mut mem: &'m mut [u8], ranges: &[(usize, usize)]) -> Option<Vec<&'m mut [u8]>> {
    let (mut base, mut parts) = (0, Vec::with_capacity(ranges.len()));
    for &(addr, len) in ranges {
        let (_, rest) = mem.split_at_mut_checked(addr.checked_sub(base)?)?;
        let (part, rest) = rest.split_at_mut_checked(len)?;
        parts.push(part);
        (mem, base) = (rest, addr + len);
    }
    Some(parts)
}

/// A deterministic byte for position `i` of the disk image.
fn disk_byte(i: usize) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, Into::into);
    let path = dir.join(format!("rawaio-vmm-{}", std::process::id()));
    let image: Vec<u8> = (0..DISK).map(disk_byte).collect();
    std::fs::write(&path, &image)?;
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    let (disk, direct) = match rawaio::direct::open_direct(&path, &mut options.clone()) {
        Ok(file) => (file, true),
        Err(_) => (options.open(&path)?, false),
    };
    let result = serve(&disk, &File::open(&path)?, &image);
    std::fs::remove_file(&path)?;
    let (requests, bytes) = result?;
    println!(
        "vmm: {requests} guest requests, {bytes} bytes moved between guest memory and the disk \
         ({}), every byte checked: OK",
        if direct { "O_DIRECT" } else { "buffered" }
    );
    Ok(())
}

/// Runs three queue notifications of guest requests against `disk`; checks everything
/// (the disk's contents through `readback`, a buffered descriptor).
fn serve(disk: &File, readback: &File, image: &[u8]) -> Result<(usize, usize), Box<dyn Error>> {
    let mut guest = MmapMut::map_anon(GUEST_RAM)?;
    // The context's own buffer type does not matter: every request is made in a scope.
    let mut ctx = Context::<Vec<u8>>::new(64)?;
    let (mut served, mut moved) = (0, 0);
    for round in 0..3usize {
        // The guest's requests: reads of 3 scattered pages, and one write of 2 pages.
        let base = (round * 4) << 20;
        let queue = [
            Request {
                write: false,
                sector: 8 * round as u64,
                descriptors: vec![
                    (base, PAGE),
                    (base + 3 * PAGE, PAGE),
                    (base + 9 * PAGE, PAGE),
                ],
            },
            Request {
                write: false,
                sector: 200 + round as u64 * 8,
                descriptors: vec![(base + 20 * PAGE, 2 * PAGE)],
            },
            Request {
                write: true,
                sector: 2000 + round as u64 * 16,
                descriptors: vec![(base + 40 * PAGE, PAGE), (base + 42 * PAGE, PAGE)],
            },
        ];
        // The guest fills the buffers of its write.
        for (i, byte) in guest[base + 40 * PAGE..base + 43 * PAGE]
            .iter_mut()
            .enumerate()
        {
            *byte = (i + round) as u8;
        }
        let ranges: Vec<_> = queue
            .iter()
            .flat_map(|r| r.descriptors.iter().copied())
            .collect();
        let mut sorted = ranges.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted, ranges,
            "this guest lists its descriptors in address order"
        );
        let mut parts = carve(&mut guest, &ranges)
            .ok_or("overlapping descriptors")?
            .into_iter();
        let results = ctx.scope(|s| {
            let mut tokens = Vec::new();
            for (id, request) in queue.iter().enumerate() {
                let bufs: Vec<&mut [u8]> = parts.by_ref().take(request.descriptors.len()).collect();
                let offset = request.sector * SECTOR;
                let op = if request.write {
                    Op::writev(disk, bufs, offset)
                } else {
                    Op::readv(disk, bufs, offset)
                };
                tokens.push(s.submit(op.user_data(id as u64))?);
            }
            let mut done = Vec::new();
            s.wait_all(&tokens, None, &mut done)?;
            // The "used ring": each request's status, in completion order.
            Ok::<_, rawaio::Error>(
                done.iter()
                    .map(|c| (c.user_data() as usize, c.full()))
                    .collect::<Vec<_>>(),
            )
        })??;
        for (id, status) in results {
            let len = status?;
            let request = &queue[id];
            let mut at = (request.sector * SECTOR) as usize;
            for &(addr, part) in &request.descriptors {
                let expected = if request.write {
                    &guest[addr..addr + part]
                } else {
                    &image[at..at + part]
                };
                let landed = if request.write {
                    let mut back = vec![0u8; part];
                    readback.read_exact_at(&mut back, at as u64)?;
                    back
                } else {
                    guest[addr..addr + part].to_vec()
                };
                if landed != expected {
                    return Err(
                        format!("request {id}: descriptor at {addr:#x} does not match").into(),
                    );
                }
                at += part;
            }
            served += 1;
            moved += len as usize;
        }
    }
    Ok((served, moved))
}
