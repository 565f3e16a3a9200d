//! Resource handles: the domain-named face of all 100 operations.
//!
//! Handles are cheap values holding a [`Client`](crate::Client) clone and the names they
//! address; nothing is fetched when a handle is made. Names and ids are checked when a call is
//! made, before any request leaves.
//!
//! A handle clones in a few reference-count increments (the client is shared, names and ids are
//! `Arc<str>`), and every call it makes owns a clone of it: a builder, or the future of a
//! plain async call, borrows neither the handle nor its arguments, so it is `Send + 'static`.
//! It can be made from a temporary handle inside a retry closure, returned, stored or spawned.
//!
//! In the source each builder call is a pair: the public `&self` method, which clones the
//! handle into the builder, and the private `run_*` function whose arguments bon turns into
//! that builder's setters.

/// Sends one call through a client and answers its decoded body: the step most calls end
/// with, `answer!(self.app.client, OperationId::AppsShow, |raw| raw.apps_show(name))`, or with
/// a [`CallContext`](crate::context::CallContext) before the closure for `call_with`. A macro
/// rather than a function, so it takes the client's `call` as it is, with no second copy of
/// its bounds; defined before the modules below, so each of them can use it.
macro_rules! answer {
    ($client:expr, $operation:expr, $call:expr $(,)?) => {
        $client
            .call($operation, $call)
            .await
            .map(fly_machines_api::ResponseValue::into_inner)
    };
    ($client:expr, $operation:expr, $context:expr, $call:expr $(,)?) => {
        $client
            .call_with($operation, $context, $call)
            .await
            .map(fly_machines_api::ResponseValue::into_inner)
    };
}

pub mod apps;
pub mod certificates;
pub mod ips;
pub mod machine_snapshot;
pub mod machines;
pub mod org;
pub mod platform;
pub mod postgres;
pub mod secrets;
pub mod tokens;
pub mod volumes;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::Client;

    /// A clone copies pointers, never the text: every builder starts with one, so it must not
    /// allocate.
    #[test]
    fn a_clone_shares_the_client_and_every_name() {
        let client = Client::builder()
            .test_server("http://127.0.0.1:9")
            .build()
            .unwrap();
        let machine = client.app("a").machine("m1").with_lease_nonce("n");
        let copy = machine.clone();
        assert!(std::ptr::eq(
            machine.app.client.raw(),
            copy.app.client.raw()
        ));
        assert!(Arc::ptr_eq(&machine.app.name, &copy.app.name));
        assert!(Arc::ptr_eq(&machine.id, &copy.id));
        let (nonce, copied_nonce) = (machine.lease_nonce.as_ref(), copy.lease_nonce.as_ref());
        assert!(Arc::ptr_eq(nonce.unwrap(), copied_nonce.unwrap()));

        let volume = client.app("a").volume("vol_1");
        assert!(Arc::ptr_eq(&volume.id, &volume.clone().id));
        let org = client.org("personal");
        assert!(Arc::ptr_eq(&org.slug, &org.clone().slug));
        let cluster = client.postgres().cluster("c1");
        assert!(Arc::ptr_eq(&cluster.id, &cluster.clone().id));
        let database = cluster.database("app");
        assert!(Arc::ptr_eq(&database.name, &database.clone().name));
        let user = cluster.user("u");
        assert!(Arc::ptr_eq(&user.name, &user.clone().name));
    }
}
