//! End-to-end workflows: the `fly-machines` client against the `fly-machines-sim` emulator, with
//! faults on and Fly's rate limits, on one virtual timeline (see `fly_machines::vtime`); the
//! shared limiter against a real `redis-server`; and `TestServer` clients. One binary.

mod bad_input;
mod blue_green;
mod fleet;
mod health;
mod leases;
mod postgres;
mod preview;
mod retries;
mod shared_limiter;
mod support;
mod test_servers;
mod two_processes;
mod vocabularies;
mod waits;
