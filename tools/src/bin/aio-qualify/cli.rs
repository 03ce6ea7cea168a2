//! The command line.

use clap::Parser;
use rawaio_tools::size::parse_size;
use std::path::PathBuf;

/// Asks a directory or a block device what a user of Linux native AIO must know, by
/// trying it: the direct-I/O alignment; whether io_submit blocks (time inside it against
/// the request's service time) for O_DIRECT reads, overwrites and appends, buffered
/// reads of uncached and cached data, and fdsync; whether RWF_NOWAIT is honoured for
/// reads and writes and whether it fails spuriously; which opcodes and RWF_* flags are
/// accepted; and the system-wide context budget.
///
/// In a directory it works on a scratch file of its own, unlinked as soon as it is open
/// (nothing is left behind, however the program ends). A block device is only read,
/// unless --write is given.
#[derive(Parser, Debug)]
#[command(
    name = "aio-qualify",
    version,
    after_help = "Exit status: 0 when native AIO is usable there (a context can be set up and a \
                  read completes); 1 when it is not; 2 for a usage error or a target that \
                  cannot be opened."
)]
pub struct Cli {
    /// A directory (a scratch file is made there) or a block device
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Size of the scratch file, like 64m (reads land anywhere in it)
    #[arg(long, value_name = "SIZE", default_value = "32m", value_parser = scratch_size)]
    pub size: u64,
    /// Requests per measurement
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(4..=10_000))]
    pub samples: u32,
    /// Block size of the timed requests (a multiple of the direct-I/O alignment)
    #[arg(long, value_name = "SIZE", default_value = "4k", value_parser = block_size)]
    pub bs: usize,
    /// Queue depth of the contexts you plan (for the budget)
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub depth: u32,
    /// Number of contexts you plan, e.g. one per thread (default: the CPUs online)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub contexts: Option<u32>,
    /// On a block device: also time writes (each writes back the data it read first);
    /// the device is claimed exclusively, so a mounted one is refused
    #[arg(long)]
    pub write: bool,
    /// One JSON object on stdout instead of the text
    #[arg(long)]
    pub json: bool,
}

fn scratch_size(s: &str) -> Result<u64, String> {
    match parse_size(s) {
        Some(n) if (1 << 20..=1 << 40).contains(&n) => Ok(n),
        _ => Err("expected a size from 1m to 1t, like 64m".into()),
    }
}

fn block_size(s: &str) -> Result<usize, String> {
    match parse_size(s) {
        Some(n) if n >= 512 && n % 512 == 0 && n <= 1 << 20 => Ok(n as usize),
        _ => Err("expected a multiple of 512 up to 1m, like 4k".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_and_errors() {
        let cli = Cli::try_parse_from(["aio-qualify", "/tmp"]).unwrap();
        assert_eq!(
            (cli.size, cli.samples, cli.bs, cli.depth),
            (32 << 20, 32, 4096, 128)
        );
        assert!(!cli.write && !cli.json && cli.contexts.is_none());
        for bad in [
            &["aio-qualify"][..],
            &["aio-qualify", "/tmp", "--size", "1k"],
            &["aio-qualify", "/tmp", "--bs", "100"],
            &["aio-qualify", "/tmp", "--samples", "1"],
            &["aio-qualify", "/tmp", "--depth", "0"],
            &["aio-qualify", "/tmp", "/var"],
            &["aio-qualify", "/tmp", "--bogus"],
        ] {
            let err = Cli::try_parse_from(bad).expect_err(&format!("{bad:?}"));
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
