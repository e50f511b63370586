//! End-to-end scenarios: a real server and real courier devices, each ending with exact
//! assertions on the server's events, ledgers and review queue and on the devices' views.
//! The harness is the `shuipiao_tests` library (`tests/src/`).
//!
//! Every scenario runs on SQLite, and again on PostgreSQL when `SHUIPIAO_TEST_PG_URL` is set
//! (always under CI, where a missing URL fails); the two- and three-instance scenarios run on
//! PostgreSQL only. The crash tests, the demo and the two- and three-instance scenarios run the
//! `shuipiao-server` and `shuipiao-courier` binaries from the same target directory:
//! `cargo nextest run --workspace` builds them. Knobs, all optional:
//!
//! | variable | default | what |
//! |---|---|---|
//! | `SHUIPIAO_E2E_SEED` | clock | replays the random faults and kill points of a run |
//! | `SHUIPIAO_E2E_KILL_POINTS` | 200 | courier SIGKILL points (1,000 for a long run) |
//! | `SHUIPIAO_E2E_SERVER_KILLS` | 4 | server SIGKILLs during push batches |
//! | `SHUIPIAO_E2E_FAULT_ROUNDS` | 25 | sync rounds through the faulty proxy |
//! | `SHUIPIAO_E2E_LOAD_EVENTS` | 100 | events per device in the load test (1,000: full size) |
//! | `SHUIPIAO_E2E_LOAD_DEVICES` | 100 | devices in the load test |
//! | `SHUIPIAO_SERVER_BIN`, `SHUIPIAO_COURIER_BIN` | beside the test | binaries to run |

mod e2e {
    pub mod bad_input;
    pub mod courier_kills;
    pub mod delivery_day;
    pub mod delivery_list;
    pub mod demo;
    pub mod device_report;
    pub mod double_spend;
    pub mod freshness;
    pub mod happy_path;
    pub mod keys;
    pub mod load;
    pub mod network_faults;
    pub mod revocation;
    pub mod server_kills;
    pub mod snapshot;
    pub mod three_instances;
    pub mod two_instances;
}
