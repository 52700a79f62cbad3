//! The connection limits: [`LimitConnections`] and the [`Limited`]
//! protocols it builds.

use super::*;

fn limited(total: Option<usize>, per_peer: Option<usize>) -> LimitConnections<Recorders> {
    LimitConnections::new(Recorders {
        events: Events::default(),
        refuse: false,
    })
    .with_max_total(total)
    .with_max_per_peer(per_peer)
}

/// Connects a built protocol to a `StringTransport` whose peer is `peer`.
fn connect(protocol: &mut impl Protocol, peer: &str) -> StringTransport {
    let st = StringTransport::with_addresses(addr("10.0.0.1:80"), addr(peer));
    st.make_connection(protocol);
    st
}

/// Past `max_total` open connections, new ones are refused, whatever
/// their peer.
#[test]
fn total_limit_refuses_past_the_maximum() {
    let f = limited(Some(2), None);
    let mut a = f.build_protocol(&addr("1.2.3.4:5")).expect("first");
    let mut b = f.build_protocol(&addr("5.6.7.8:9")).expect("second");
    connect(&mut a, "1.2.3.4:5");
    connect(&mut b, "5.6.7.8:9");
    assert_eq!(f.open_connections(), 2);
    assert!(f.build_protocol(&addr("9.9.9.9:1")).is_none());
    assert!(f.build_protocol(&addr("1.2.3.4:6")).is_none());
    assert_eq!(f.open_connections(), 2);
}

/// Past `max_per_peer` connections from one IP, that IP is refused
/// (any port); other peers are not.
#[test]
fn per_peer_limit_counts_by_ip() {
    let f = limited(None, Some(2));
    let ip: IpAddr = "1.2.3.4".parse().unwrap();
    let _a = f.build_protocol(&addr("1.2.3.4:5")).expect("first");
    let _b = f.build_protocol(&addr("1.2.3.4:6")).expect("second");
    assert_eq!(f.open_from(&ip), 2);
    assert!(f.build_protocol(&addr("1.2.3.4:7")).is_none());
    let _c = f.build_protocol(&addr("5.6.7.8:5")).expect("another peer");
    assert_eq!(f.open_from(&"5.6.7.8".parse().unwrap()), 1);
    assert_eq!(f.open_connections(), 3);
}

/// A connection stops counting at `connection_lost`, and its place can
/// be taken by a new one.
#[test]
fn counts_are_released_on_connection_lost_and_reused() {
    let f = limited(Some(2), Some(1));
    let ip: IpAddr = "1.2.3.4".parse().unwrap();
    let mut a = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
    let mut b = f.build_protocol(&addr("5.6.7.8:5")).unwrap();
    connect(&mut a, "1.2.3.4:5");
    connect(&mut b, "5.6.7.8:5");
    assert!(f.build_protocol(&addr("1.2.3.4:6")).is_none());
    a.connection_lost(Reason::Done);
    assert_eq!((f.open_connections(), f.open_from(&ip)), (1, 0));
    let mut again = f.build_protocol(&addr("1.2.3.4:6")).expect("reused");
    connect(&mut again, "1.2.3.4:6");
    assert_eq!((f.open_connections(), f.open_from(&ip)), (2, 1));
    // Dropping a protocol after its connection_lost does not uncount twice.
    drop(a);
    assert_eq!(f.open_connections(), 2);
    assert!(f.build_protocol(&addr("7.7.7.7:1")).is_none());
}

/// A protocol built but dropped without ever running (the connection
/// failed to start) is uncounted too.
#[test]
fn a_protocol_dropped_unstarted_is_uncounted() {
    let f = limited(Some(1), None);
    let p = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
    assert_eq!(f.open_connections(), 1);
    drop(p);
    assert_eq!(f.open_connections(), 0);
    assert_eq!(f.open_from(&"1.2.3.4".parse().unwrap()), 0);
    assert!(f.build_protocol(&addr("1.2.3.4:5")).is_some());
}

/// A panic in the wrapped `connection_lost` still releases the count.
#[test]
fn a_panicking_connection_lost_still_uncounts() {
    struct Bad;
    impl Protocol for Bad {
        fn connection_lost(&mut self, _: Reason) {
            panic!("lost");
        }
    }
    let f = LimitConnections::new(for_protocol(|| Bad)).with_max_total(Some(1));
    let mut p = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
    assert!(guarded(|| p.connection_lost(Reason::Done)).is_err());
    assert_eq!(f.open_connections(), 0);
}

/// A connection the wrapped factory refuses is not counted.
#[test]
fn a_wrapped_refusal_is_not_counted() {
    let f = LimitConnections::new(Recorders {
        events: Events::default(),
        refuse: true,
    })
    .with_max_total(Some(1));
    assert!(f.build_protocol(&addr("1.2.3.4:5")).is_none());
    assert_eq!(f.open_connections(), 0);
}

/// An IPv4-mapped IPv6 peer counts as its IPv4 address.
#[test]
fn ipv4_mapped_peers_count_as_ipv4() {
    let f = limited(None, Some(1));
    let _a = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
    assert!(f.build_protocol(&addr("[::ffff:1.2.3.4]:6")).is_none());
    assert_eq!(f.open_from(&"::ffff:1.2.3.4".parse().unwrap()), 1);
    assert!(f.build_protocol(&addr("[::1]:6")).is_some());
}

/// Events reach the wrapped protocol unchanged; start/stop reach the
/// wrapped factory; the wrapper takes the wrapped names.
#[test]
fn limited_protocols_pass_events_through() {
    let events = Events::default();
    let f = Shared::new(LimitConnections::new(Recorders {
        events: events.clone(),
        refuse: false,
    }));
    f.do_start();
    let mut p = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
    let st = connect(&mut p, "1.2.3.4:5");
    p.data_received(&st.transport(), b"x");
    p.read_connection_lost(&st.transport());
    p.connection_lost(Reason::Aborted);
    f.do_stop();
    assert_eq!(
        events.get(),
        [
            "start",
            "made",
            "data x same=true",
            "read lost same=true",
            "lost false",
            "stop"
        ]
    );
    assert!(p.half_closeable());
    assert_eq!(p.log_prefix(), "Recorder");
    assert_eq!(f.log_prefix(), "Recorders");
    assert!(p.inner().transport.is_some());
}
