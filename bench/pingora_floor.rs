//! pingora with no logic of ours: every request goes to one upstream. The floor
//! under the outpost's proxy mode in `bench/outpost.sh`, built like the outpost
//! (same pingora, same allocator) so that the difference is the outpost's own work.
//! Usage: `pingora-floor LISTEN UPSTREAM [THREADS]`

use async_trait::async_trait;
use pingora::prelude::{HttpPeer, Result};
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Floor {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: pingora-floor LISTEN UPSTREAM [THREADS]");
    };
    let threads = match args.next() {
        Some(t) => t.parse()?,
        None => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
    };
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let conf = server.configuration.clone();
    let mut proxy = pingora::proxy::http_proxy_service(&conf, Floor { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever()
}
