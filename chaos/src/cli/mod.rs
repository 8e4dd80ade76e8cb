//! The long-running subcommands of the `edgeheal-chaos` binary (thin adapters
//! over [`edgeheal_chaos::simcluster`] and [`edgeheal_chaos::closedloop`]).

pub mod demo;
pub mod sim_cluster;
