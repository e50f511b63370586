//! `shuipiao-bench <suite>|all [--quick]`: runs benchmark suites and prints one Markdown table
//! per suite, ready to paste into `docs/performance.md`.

use shuipiao_bench::{Options, Suite};

const USAGE: &str =
    "usage: shuipiao-bench <push|pull|snapshot|frame|verify|stats|day|all> [--quick]

  --quick   tiny sizes: checks the harness runs, the figures mean nothing
  PostgreSQL rows run when SHUIPIAO_TEST_PG_URL names a cluster (a fresh database per run).";

fn main() -> anyhow::Result<()> {
    let mut quick = false;
    let mut suites = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "all" => suites.extend(Suite::ALL),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            name => match Suite::from_name(name) {
                Some(suite) => suites.push(suite),
                None => anyhow::bail!("unknown suite {name:?}\n{USAGE}"),
            },
        }
    }
    if suites.is_empty() {
        anyhow::bail!("no suite named\n{USAGE}");
    }
    let options = if quick {
        Options::quick()
    } else {
        Options::default()
    };
    println!("Machine: {}.", shuipiao_bench::machine());
    for suite in suites {
        let started = std::time::Instant::now();
        let table = shuipiao_bench::run(suite, &options)?;
        println!();
        print!("{table}");
        println!(
            "({} took {:.0} s.)",
            suite.name(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
