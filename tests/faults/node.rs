//! `fault-node DATABASE ADDRESS`: the local XMTP node as a process of its own, which the fault
//! tests kill (SIGKILL) and start again on the same database and address. Prints its URL.

#![allow(clippy::print_stdout, clippy::expect_used)]

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let database = args.next().expect("usage: fault-node DATABASE ADDRESS");
    let mut config = xmtp_node::NodeConfig::local(database);
    config.listen = args.next().expect("an address").parse().expect("an address");
    let node = xmtp_node::start(config).await.expect("the node starts");
    println!("{}", node.url());
    std::future::pending::<()>().await;
}
