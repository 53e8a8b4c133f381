//! Links: read them, rename them, set their MTU, bring them up, make veth
//! pairs.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

pub use netlink_packet_route::link::State as OperState;

use crate::{Error, Rtnl};

/// A link of the namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Its MAC, for an Ethernet link (a veth, tap, virtio-net device);
    /// none for loopback and IP tunnels.
    pub mac: Option<[u8; 6]>,
    pub mtu: u32,
    /// What made it (`veth`, `tun`, `dummy`), when the driver says;
    /// a physical or virtio device says nothing.
    pub kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Whether it can pass packets (a veth whose peer is down cannot);
    /// the kernel updates it shortly after a change, not at once.
    pub oper_state: OperState,
}

impl Link {
    fn from_message(message: LinkMessage) -> Self {
        let ethernet = message.header.link_layer_type == LinkLayerType::Ether;
        let mut link = Link {
            index: message.header.index,
            name: String::new(),
            mac: None,
            mtu: 0,
            kind: None,
            up: message.header.flags.contains(LinkFlags::Up),
            oper_state: OperState::Unknown,
        };
        for attribute in message.attributes {
            match attribute {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Address(address) if ethernet => {
                    link.mac = address.try_into().ok();
                }
                LinkAttribute::Mtu(mtu) => link.mtu = mtu,
                LinkAttribute::OperState(state) => link.oper_state = state,
                LinkAttribute::LinkInfo(infos) => {
                    link.kind = infos.into_iter().find_map(|info| match info {
                        LinkInfo::Kind(kind) => Some(kind.to_string()),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        link
    }
}

impl Rtnl {
    /// Every link of the namespace, in index order.
    pub fn links(&mut self) -> Result<Vec<Link>, Error> {
        self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            || "listing links".into(),
            |answer| match answer {
                RouteNetlinkMessage::NewLink(message) => Some(Link::from_message(message)),
                _ => None,
            },
        )
    }

    /// The link named `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, Error> {
        Ok(self.links()?.into_iter().find(|link| link.name == name))
    }

    /// Renames a link. Older kernels (the guest's 6.1 among them) refuse
    /// while it is up (EBUSY): rename first.
    pub fn set_name(&mut self, index: u32, name: &str) -> Result<(), Error> {
        let mut message = link_message(index);
        message.attributes.push(LinkAttribute::IfName(name.into()));
        self.change(RouteNetlinkMessage::SetLink(message), 0, || {
            format!("renaming link {index} to {name}")
        })
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), Error> {
        let mut message = link_message(index);
        message.attributes.push(LinkAttribute::Mtu(mtu));
        self.change(RouteNetlinkMessage::SetLink(message), 0, || {
            format!("setting the MTU of link {index} to {mtu}")
        })
    }

    /// Brings a link up (`IFF_UP`).
    pub fn set_up(&mut self, index: u32) -> Result<(), Error> {
        let mut message = link_message(index);
        message.header.flags = LinkFlags::Up;
        message.header.change_mask = LinkFlags::Up;
        self.change(RouteNetlinkMessage::SetLink(message), 0, || {
            format!("bringing link {index} up")
        })
    }

    /// Makes a veth pair `name` — `peer`, both down.
    pub fn add_veth(&mut self, name: &str, peer: &str) -> Result<(), Error> {
        let mut peer_message = LinkMessage::default();
        peer_message
            .attributes
            .push(LinkAttribute::IfName(peer.into()));
        let mut message = LinkMessage::default();
        message.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_message))),
            ]),
        ];
        self.change(
            RouteNetlinkMessage::NewLink(message),
            NLM_F_CREATE | NLM_F_EXCL,
            || format!("creating veth pair {name}/{peer}"),
        )
    }
}

fn link_message(index: u32) -> LinkMessage {
    let mut message = LinkMessage::default();
    message.header.index = index;
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::in_new_network_namespace;

    #[test]
    fn a_veth_pair_is_listed_renamed_resized_and_raised() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            let lo = rtnl.link("lo").unwrap().unwrap();
            assert_eq!(lo.mac, None);
            assert!(!lo.up);

            rtnl.add_veth("ve0", "ve1").unwrap();
            let error = rtnl.add_veth("ve0", "ve2").unwrap_err();
            assert_eq!(error.errno(), Some(nix::errno::Errno::EEXIST));
            let ve0 = rtnl.link("ve0").unwrap().unwrap();
            let ve1 = rtnl.link("ve1").unwrap().unwrap();
            assert_eq!(ve0.kind.as_deref(), Some("veth"));
            assert_eq!(ve0.mtu, 1500);
            assert!(!ve0.up);
            assert_eq!(ve0.oper_state, OperState::Down);
            let mac = ve0.mac.unwrap();
            assert_ne!(mac, [0; 6]);
            assert_ne!(ve1.mac, Some(mac));

            rtnl.set_name(ve0.index, "eth0").unwrap();
            rtnl.set_mtu(ve0.index, 1400).unwrap();
            rtnl.set_up(ve0.index).unwrap();
            rtnl.set_up(ve1.index).unwrap();
            let eth0 = rtnl.link("eth0").unwrap().unwrap();
            assert_eq!(
                (eth0.index, eth0.mac, eth0.mtu),
                (ve0.index, Some(mac), 1400)
            );
            assert!(eth0.up);
            assert_eq!(rtnl.link("ve0").unwrap(), None);

            let links = rtnl.links().unwrap();
            assert!(links.windows(2).all(|pair| pair[0].index < pair[1].index));
            assert!(links.contains(&rtnl.link("ve1").unwrap().unwrap()));
        });
    }
}
