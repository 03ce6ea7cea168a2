//! `capi/include/libaio.h` against rawaio-abi: compiles `c/header_probe.c` for the target
//! being tested, runs it, and checks that every field the header declares sits where the
//! kernel reads it, and that every `io_prep_*` helper leaves exactly the bytes of the
//! iocb rawaio-abi builds from the same values.
//!
//! Run for other targets under qemu-user with the same variables as rawaio-abi's C probe
//! (`.ci/capi.sh` does it for s390x and i686):
//! - `RAWAIO_PROBE_CC`: the C compiler for the target (default `cc`);
//! - `RAWAIO_PROBE_STATIC=1`: link statically;
//! - `RAWAIO_PROBE_RUNNER`: the command to run the probe with (`qemu-s390x`).

mod common;

use common::{assert_success, command_from_env, compile, figures, hex};
use rawaio_abi::layout::STRUCTS;
use rawaio_abi::{KEY_OFFSET, RW_FLAGS_OFFSET, iocb};
use std::env;
use std::path::Path;
use std::process::Command;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// The kernel's offset of `field` in `strukt`, from rawaio-abi's layout table.
fn kernel_offset(strukt: &str, field: &str) -> usize {
    let layout = STRUCTS.iter().find(|s| s.name == strukt).unwrap();
    layout
        .fields
        .iter()
        .find(|f| f.name == field)
        .unwrap_or_else(|| panic!("no {strukt}.{field}"))
        .offset
}

/// Where a pointer or `long` stored in the 64-bit kernel field at `offset` begins: its
/// low half, which is the second on 32-bit big-endian targets.
fn word_at(offset: usize) -> usize {
    if usize::BITS == 32 && cfg!(target_endian = "big") {
        offset + 4
    } else {
        offset
    }
}

#[test]
fn header_matches_the_kernel_abi() {
    let cc = command_from_env("RAWAIO_PROBE_CC", "cc");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(out_dir).unwrap();
    let binary = out_dir.join(format!(
        "header_probe-{}-{}",
        env::consts::ARCH,
        std::process::id()
    ));
    let include = format!("-I{MANIFEST}/include");
    let source = format!("{MANIFEST}/tests/c/header_probe.c");
    let mut args = vec!["-std=gnu11", "-O0", "-Wall", "-Wextra", "-Werror", &include];
    if env::var("RAWAIO_PROBE_STATIC").as_deref() == Ok("1") {
        args.push("-static");
    }
    args.push(&source);
    compile(&cc, &args, &binary);

    // An io_event as the kernel writes it, for the probe to decode.
    let (addr1, addr2): (u64, u64) = if usize::BITS == 64 {
        (0x7f12_3456_7890, 0x7fff_0000_1234)
    } else {
        (0x89ab_cdef, 0xfedc_ba98)
    };
    let mut event = Vec::new();
    event.extend_from_slice(&addr1.to_ne_bytes());
    event.extend_from_slice(&addr2.to_ne_bytes());
    event.extend_from_slice(&(-5i64).to_ne_bytes());
    event.extend_from_slice(&7i64.to_ne_bytes());

    let runner = command_from_env("RAWAIO_PROBE_RUNNER", "");
    let mut command = if runner[0].is_empty() {
        Command::new(&binary)
    } else {
        let mut c = Command::new(&runner[0]);
        c.args(&runner[1..]).arg(&binary);
        c
    };
    command.arg(hex(&event));
    let output = command.output().expect("running the probe");
    assert_success(&command, &output);
    let c = figures(&String::from_utf8(output.stdout).unwrap());
    let num = |name: &str| -> i128 {
        c.get(name)
            .unwrap_or_else(|| panic!("the probe did not print {name}"))
            .parse()
            .unwrap()
    };

    let mut errors = Vec::new();
    let expect = |errors: &mut Vec<String>, name: &str, want: i128| {
        let got = num(name);
        if got != want {
            errors.push(format!(
                "{name}: the header gives {got}, the kernel ABI {want}"
            ));
        }
    };
    let k = |strukt: &str, field: &str| kernel_offset(strukt, field) as i128;
    let w = |strukt: &str, field: &str| word_at(kernel_offset(strukt, field)) as i128;
    expect(&mut errors, "size.iocb", 64);
    expect(&mut errors, "size.io_event", 32);
    expect(&mut errors, "size.pointer", size_of::<usize>() as i128);
    expect(
        &mut errors,
        "big_endian",
        cfg!(target_endian = "big").into(),
    );
    expect(&mut errors, "offset.iocb.data", w("iocb", "aio_data"));
    expect(&mut errors, "offset.iocb.key", KEY_OFFSET as i128);
    expect(
        &mut errors,
        "offset.iocb.aio_rw_flags",
        RW_FLAGS_OFFSET as i128,
    );
    expect(
        &mut errors,
        "offset.iocb.aio_lio_opcode",
        k("iocb", "aio_lio_opcode"),
    );
    expect(
        &mut errors,
        "offset.iocb.aio_reqprio",
        k("iocb", "aio_reqprio"),
    );
    expect(
        &mut errors,
        "offset.iocb.aio_fildes",
        k("iocb", "aio_fildes"),
    );
    for buf in ["u.c.buf", "u.v.vec", "u.saddr.addr"] {
        expect(
            &mut errors,
            &format!("offset.iocb.{buf}"),
            w("iocb", "aio_buf"),
        );
    }
    for len in ["u.c.nbytes", "u.v.nr", "u.saddr.len"] {
        expect(
            &mut errors,
            &format!("offset.iocb.{len}"),
            w("iocb", "aio_nbytes"),
        );
    }
    expect(
        &mut errors,
        "offset.iocb.u.c.offset",
        k("iocb", "aio_offset"),
    );
    expect(
        &mut errors,
        "offset.iocb.u.v.offset",
        k("iocb", "aio_offset"),
    );
    expect(
        &mut errors,
        "offset.iocb.u.c.__pad3",
        k("iocb", "aio_reserved2"),
    );
    expect(&mut errors, "offset.iocb.u.c.flags", k("iocb", "aio_flags"));
    expect(&mut errors, "offset.iocb.u.c.resfd", k("iocb", "aio_resfd"));
    // The poll mask is an int: the low 32 bits of aio_buf.
    let low32 = if cfg!(target_endian = "big") { 4 } else { 0 };
    expect(
        &mut errors,
        "offset.iocb.u.poll.events",
        k("iocb", "aio_buf") + low32,
    );
    expect(&mut errors, "offset.io_event.data", w("io_event", "data"));
    expect(&mut errors, "offset.io_event.obj", w("io_event", "obj"));
    expect(&mut errors, "offset.io_event.res", w("io_event", "res"));
    expect(&mut errors, "offset.io_event.res2", w("io_event", "res2"));
    expect(&mut errors, "size.iocb.aio_lio_opcode", 2);
    expect(&mut errors, "size.iocb.aio_reqprio", 2);
    expect(&mut errors, "size.iocb.aio_fildes", 4);
    expect(&mut errors, "size.iocb.u.c.offset", 8);
    expect(&mut errors, "size.io_event.res", size_of::<usize>() as i128);

    // What the helpers write, byte for byte.
    let buf = num("input.buf") as u64;
    let count = num("input.count") as u64;
    let offset = num("input.offset") as i64;
    let callback = num("input.callback") as u64;
    let rw = |opcode: u16, nbytes: u64| iocb {
        aio_lio_opcode: opcode,
        aio_fildes: 7,
        aio_buf: buf,
        aio_nbytes: nbytes,
        aio_offset: offset,
        ..iocb::default()
    };
    let bare = |opcode: u16| iocb {
        aio_lio_opcode: opcode,
        aio_fildes: 7,
        ..iocb::default()
    };
    let cases = [
        ("pread", rw(rawaio_abi::IOCB_CMD_PREAD, count)),
        ("pwrite", rw(rawaio_abi::IOCB_CMD_PWRITE, count)),
        ("preadv", rw(rawaio_abi::IOCB_CMD_PREADV, 3)),
        ("pwritev", rw(rawaio_abi::IOCB_CMD_PWRITEV, 3)),
        (
            "preadv2",
            iocb {
                aio_rw_flags: 0x8,
                ..rw(rawaio_abi::IOCB_CMD_PREADV, 3)
            },
        ),
        (
            "pwritev2",
            iocb {
                aio_rw_flags: 0x12,
                ..rw(rawaio_abi::IOCB_CMD_PWRITEV, 3)
            },
        ),
        ("fsync", bare(rawaio_abi::IOCB_CMD_FSYNC)),
        ("fdsync", bare(rawaio_abi::IOCB_CMD_FDSYNC)),
        (
            "poll",
            iocb {
                aio_buf: 3,
                ..bare(rawaio_abi::IOCB_CMD_POLL)
            },
        ),
        (
            "pread_eventfd_callback",
            iocb {
                aio_data: callback,
                aio_flags: rawaio_abi::IOCB_FLAG_RESFD,
                aio_resfd: 9,
                ..rw(rawaio_abi::IOCB_CMD_PREAD, count)
            },
        ),
    ];
    for (name, want) in cases {
        let key = format!("bytes.{name}");
        let got = c.get(&key).unwrap_or_else(|| panic!("no {key}"));
        if *got != hex(&want.to_bytes()) {
            errors.push(format!(
                "{key}:\n  header  {got}\n  kernel  {}",
                hex(&want.to_bytes())
            ));
        }
    }
    // Pointers are zero-extended, so the test values must survive the round trip.
    assert!(usize::BITS == 64 || buf > 0x8000_0000, "buf {buf:#x}");

    expect(&mut errors, "event.data", addr1 as i128);
    expect(&mut errors, "event.obj", addr2 as i128);
    expect(&mut errors, "event.res", -5);
    expect(&mut errors, "event.res2", 7);

    assert!(
        errors.is_empty(),
        "libaio.h disagrees with the kernel ABI on {} ({}-endian, {}-bit):\n{}",
        env::consts::ARCH,
        if cfg!(target_endian = "big") {
            "big"
        } else {
            "little"
        },
        usize::BITS,
        errors.join("\n")
    );
    println!(
        "libaio.h agrees with rawaio-abi on {} ({} figures)",
        env::consts::ARCH,
        c.len()
    );
    let _ = std::fs::remove_file(&binary);
}
