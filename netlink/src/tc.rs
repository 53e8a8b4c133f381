//! Traffic control: what joins a container's veth to its tap.
//!
//! Each of the two links gets an ingress qdisc (`tc qdisc add dev X
//! ingress`) holding one u32 filter that matches every packet and hands it
//! to the other link's egress (`tc filter add dev X parent ffff: protocol
//! all u32 match u8 0 0 action mirred egress redirect dev Y`). Deleting
//! the qdisc deletes its filters.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionGeneric, TcActionMirror, TcActionMirrorOption,
    TcActionOption, TcActionType, TcAttribute, TcFilterU32, TcFilterU32Option, TcHandle, TcMessage,
    TcMirror, TcMirrorActionType, TcOption, TcU32Key, TcU32Selector, TcU32SelectorFlags,
};
use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;

use crate::{Error, Rtnl};

/// The ingress qdisc's handle, `ffff:`, which its filters name as parent.
const INGRESS: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0,
};
const INGRESS_KIND: &str = "ingress";
/// Every protocol, as the filter header wants it: in network byte order.
const ETH_P_ALL: u16 = 0x0003;

impl Rtnl {
    /// Adds an ingress qdisc to link `index`; EEXIST if it has one.
    pub fn add_ingress_qdisc(&mut self, index: u32) -> Result<(), Error> {
        let operation = || format!("adding an ingress qdisc to link {index}");
        let mut message = tc_message(index, operation)?;
        message.header.handle = INGRESS;
        message.header.parent = TcHandle::INGRESS;
        message
            .attributes
            .push(TcAttribute::Kind(INGRESS_KIND.into()));
        self.change(
            RouteNetlinkMessage::NewQueueDiscipline(message),
            NLM_F_CREATE | NLM_F_EXCL,
            operation,
        )
    }

    /// Deletes the ingress qdisc of link `index` and its filters; ENOENT
    /// or EINVAL if it has none, ENODEV if the link is gone.
    pub fn delete_ingress_qdisc(&mut self, index: u32) -> Result<(), Error> {
        let operation = || format!("deleting the ingress qdisc of link {index}");
        let mut message = tc_message(index, operation)?;
        message.header.handle = INGRESS;
        message.header.parent = TcHandle::INGRESS;
        self.change(
            RouteNetlinkMessage::DelQueueDiscipline(message),
            0,
            operation,
        )
    }

    /// The kinds of link `index`'s qdiscs (`noqueue`, `ingress`, ...).
    pub fn qdiscs(&mut self, index: u32) -> Result<Vec<String>, Error> {
        self.dump(
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            || "listing qdiscs".into(),
            |answer| match answer {
                RouteNetlinkMessage::NewQueueDiscipline(message)
                    if i64::from(message.header.index) == i64::from(index) =>
                {
                    kind(&message.attributes)
                }
                _ => None,
            },
        )
    }

    /// Sends every packet arriving at link `from` out of link `to`: a u32
    /// filter matching all under `from`'s ingress qdisc, with a mirred
    /// egress redirect to `to`.
    pub fn redirect_ingress(&mut self, from: u32, to: u32) -> Result<(), Error> {
        let operation = || format!("redirecting link {from}'s ingress to link {to}");
        let mut message = tc_message(from, operation)?;
        message.header.parent = INGRESS;
        // Priority 0: the kernel picks one.
        message.header.info = u32::from(ETH_P_ALL.to_be());
        let mut match_all = TcU32Selector::default();
        match_all.flags = TcU32SelectorFlags::Terminal;
        match_all.nkeys = 1;
        // A key with mask 0 matches any packet.
        match_all.keys = vec![TcU32Key::default()];
        message.attributes = vec![
            TcAttribute::Kind(TcFilterU32::KIND.into()),
            TcAttribute::Options(vec![
                TcOption::U32(TcFilterU32Option::Selector(match_all)),
                TcOption::U32(TcFilterU32Option::Action(vec![redirect_action(to)])),
            ]),
        ];
        self.change(
            RouteNetlinkMessage::NewTrafficFilter(message),
            NLM_F_CREATE | NLM_F_EXCL,
            operation,
        )
    }

    /// The links that link `index`'s ingress filters redirect to.
    pub fn ingress_redirects(&mut self, index: u32) -> Result<Vec<u32>, Error> {
        let operation = || format!("listing the ingress filters of link {index}");
        let mut message = tc_message(index, operation)?;
        message.header.parent = INGRESS;
        let filters = self.dump(
            RouteNetlinkMessage::GetTrafficFilter(message),
            operation,
            |answer| match answer {
                RouteNetlinkMessage::NewTrafficFilter(message) => Some(message.attributes),
                _ => None,
            },
        )?;
        Ok(filters
            .into_iter()
            .flatten()
            .filter_map(|attribute| match attribute {
                TcAttribute::Options(options) => Some(options),
                _ => None,
            })
            .flatten()
            .filter_map(|option| match option {
                TcOption::U32(TcFilterU32Option::Action(actions)) => Some(actions),
                _ => None,
            })
            .flatten()
            .flat_map(|action| action.attributes)
            .filter_map(|attribute| match attribute {
                TcActionAttribute::Options(options) => Some(options),
                _ => None,
            })
            .flatten()
            .filter_map(|option| match option {
                TcActionOption::Mirror(TcActionMirrorOption::Parms(mirror))
                    if mirror.eaction == TcMirrorActionType::EgressRedir =>
                {
                    Some(mirror.ifindex)
                }
                _ => None,
            })
            .collect())
    }
}

/// `mirred egress redirect dev <to>`: the packet leaves by `to` and goes no
/// further here (stolen).
fn redirect_action(to: u32) -> TcAction {
    let mut generic = TcActionGeneric::default();
    generic.action = TcActionType::Stolen;
    let mut mirror = TcMirror::default();
    mirror.generic = generic;
    mirror.eaction = TcMirrorActionType::EgressRedir;
    mirror.ifindex = to;
    let mut action = TcAction::default();
    action.attributes = vec![
        TcActionAttribute::Kind(TcActionMirror::KIND.into()),
        TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
            mirror,
        ))]),
    ];
    action
}

/// A message about link `index` (the kernel's link indexes are positive
/// `int`s: a larger one names no link).
fn tc_message(index: u32, operation: impl FnOnce() -> String) -> Result<TcMessage, Error> {
    let index = i32::try_from(index).map_err(|_| Error::Kernel {
        operation: operation(),
        errno: Errno::ENODEV,
    })?;
    Ok(TcMessage::with_index(index))
}

fn kind(attributes: &[TcAttribute]) -> Option<String> {
    attributes.iter().find_map(|attribute| match attribute {
        TcAttribute::Kind(kind) => Some(kind.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Duration;

    use super::*;
    use crate::testing::{
        in_network_namespace, in_new_network_namespace, move_link, new_network_namespace,
        veth_pair_up,
    };
    use crate::Address;

    #[test]
    fn two_links_are_joined_both_ways_and_parted() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            rtnl.add_veth("ve0", "ve1").unwrap();
            rtnl.add_veth("tap0", "tap1").unwrap();
            let veth = rtnl.link("ve0").unwrap().unwrap().index;
            let tap = rtnl.link("tap0").unwrap().unwrap().index;
            let before = rtnl.qdiscs(veth).unwrap();
            assert!(!before.iter().any(|kind| kind == "ingress"));

            for (from, to) in [(veth, tap), (tap, veth)] {
                rtnl.add_ingress_qdisc(from).unwrap();
                rtnl.redirect_ingress(from, to).unwrap();
            }
            let error = rtnl.add_ingress_qdisc(veth).unwrap_err();
            assert_eq!(error.errno(), Some(Errno::EEXIST));
            assert!(rtnl
                .qdiscs(veth)
                .unwrap()
                .iter()
                .any(|kind| kind == "ingress"));
            assert!(rtnl
                .qdiscs(tap)
                .unwrap()
                .iter()
                .any(|kind| kind == "ingress"));
            assert_eq!(rtnl.ingress_redirects(veth).unwrap(), [tap]);
            assert_eq!(rtnl.ingress_redirects(tap).unwrap(), [veth]);

            rtnl.delete_ingress_qdisc(veth).unwrap();
            rtnl.delete_ingress_qdisc(tap).unwrap();
            assert_eq!(rtnl.qdiscs(veth).unwrap(), before);
            assert_eq!(rtnl.ingress_redirects(veth).unwrap(), []);
            assert_eq!(rtnl.ingress_redirects(tap).unwrap(), []);

            let again = rtnl.delete_ingress_qdisc(veth).unwrap_err().errno();
            assert!(
                matches!(again, Some(Errno::ENOENT | Errno::EINVAL)),
                "{again:?}"
            );
            let gone = rtnl.delete_ingress_qdisc(999_999).unwrap_err().errno();
            assert_eq!(gone, Some(Errno::ENODEV));
        });
    }

    /// Packets cross both redirects: `outside` (the network beyond the
    /// container's veth) and `guest` (beyond the tap) each have a namespace
    /// of their own and talk UDP through the one where the veth and the tap
    /// are joined. ARP goes both ways first.
    #[test]
    fn packets_cross_the_redirects_both_ways() {
        let [middle, outside, guest] = [(); 3].map(|()| new_network_namespace());
        in_network_namespace(&middle, || {
            let mut rtnl = Rtnl::open().unwrap();
            let (veth, outside_end) = veth_pair_up(&mut rtnl, "veth", "outside");
            let (tap, guest_end) = veth_pair_up(&mut rtnl, "tap", "guest");
            move_link(&mut rtnl, outside_end, &outside);
            move_link(&mut rtnl, guest_end, &guest);
            for (from, to) in [(veth, tap), (tap, veth)] {
                rtnl.add_ingress_qdisc(from).unwrap();
                rtnl.redirect_ingress(from, to).unwrap();
            }
        });
        for (namespace, name, address) in [
            (&outside, "outside", "10.0.0.1"),
            (&guest, "guest", "10.0.0.2"),
        ] {
            in_network_namespace(namespace, || {
                let mut rtnl = Rtnl::open().unwrap();
                let index = rtnl.link(name).unwrap().unwrap().index;
                rtnl.set_up(index).unwrap();
                rtnl.add_address(&Address {
                    index,
                    address: address.parse().unwrap(),
                    prefix_len: 24,
                })
                .unwrap();
            });
        }
        let receiver = in_network_namespace(&guest, || UdpSocket::bind("10.0.0.2:4789").unwrap());
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        in_network_namespace(&outside, || {
            let sender = UdpSocket::bind("10.0.0.1:0").unwrap();
            sender.send_to(b"through", "10.0.0.2:4789").unwrap();
        });
        let mut buffer = [0; 16];
        let (length, from) = receiver.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..length], b"through");
        assert_eq!(from.ip().to_string(), "10.0.0.1");
    }
}
