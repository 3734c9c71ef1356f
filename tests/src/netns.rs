//! Hosts on a simulated network, for tests of what crosses one: each [`NetHost`] is a network
//! namespace joined to this one by a veth pair (`ip netns` + `ip link`), with its own address,
//! so a process run in it reaches this host's servers only over that link — which a test can
//! cut ([`NetHost::cut`]) and restore. Needs root (CAP_NET_ADMIN); everything made is removed
//! when the host is dropped.

use std::process::Command;

/// A network namespace reachable over its own veth link. See the module docs.
#[derive(Debug)]
pub struct NetHost {
    name: String,
    host_link: String,
    /// The address of this (the root) side of the link, which the namespace reaches.
    pub gateway: String,
    /// The namespace's own address.
    pub address: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetHost {
    /// Makes host number `index` (0..=250) on subnet `10.<subnet>.<index>.0/24`.
    pub fn new(subnet: u8, index: u8) -> Result<NetHost, String> {
        let pid = std::process::id() % 10_000;
        let name = format!("rw{pid}n{index}");
        let host_link = format!("rw{pid}h{index}");
        let peer = format!("rw{pid}p{index}");
        let gateway = format!("10.{subnet}.{index}.1");
        let address = format!("10.{subnet}.{index}.2");
        let host = NetHost {
            name: name.clone(),
            host_link: host_link.clone(),
            gateway: gateway.clone(),
            address: address.clone(),
        };
        // Made step by step; `Drop` removes whatever was made.
        ip(&["netns", "add", &name])?;
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &name])?;
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &host_link])?;
        ip(&["link", "set", &host_link, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", name.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&["addr", "add", &format!("{address}/24"), "dev", &peer])?;
        inside(&["link", "set", &peer, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Cuts the link (its root side goes down): packets in flight are lost, connections hang.
    pub fn cut(&self) -> Result<(), String> {
        ip(&["link", "set", &self.host_link, "down"])
    }

    /// Restores the link.
    pub fn restore(&self) -> Result<(), String> {
        ip(&["link", "set", &self.host_link, "up"])?;
        // Bringing a link down drops its address routes' state; make sure it is back.
        let _ = ip(&[
            "addr",
            "add",
            &format!("{}/24", self.gateway),
            "dev",
            &self.host_link,
        ]);
        Ok(())
    }
}

impl Drop for NetHost {
    fn drop(&mut self) {
        // Removing the namespace removes its end of the pair, and with it the pair.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_link]);
    }
}
