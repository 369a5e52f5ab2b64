/**
 * The lab's strongSwan configuration files. Proposals use only the algorithms of the base and
 * "extra" plugin packages (aes, sha2, hmac, curve25519): AES-GCM and the openssl plugin need
 * libstrongswan-standard-plugins, which CI does not install. The syntax takes one `key = value` per
 * line: `a = 1; b = 2` would be one value.
 */

/** An address inside the responder's protected net, owned by the responder (libipsec installs its route with it). */
export const PROTECTED_HOST = '10.92.0.1';
export const LAB_PSK = 'switchboard-lab-psk';

/**
 * Every charon of the lab: its own VICI socket, userspace ESP, an IKE log at level 2. `reconnect`
 * (an initiator that comes back by itself) shortens its retransmissions (1 s, then x1.4, 3 tries:
 * an exchange its peer no longer answers fails in about 7 s instead of charon's 165 s).
 */
export function charonConf(dir: string, reconnect = false): string {
  const retransmit = reconnect ? '  retransmit_timeout = 1.0\n  retransmit_base = 1.4\n  retransmit_tries = 3\n' : '';
  return `charon {
  load_modular = yes
${retransmit}  plugins {
    include /etc/strongswan.d/charon/*.conf
    vici {
      socket = unix://${dir}/charon.vici
    }
    kernel-libipsec {
      load = yes
    }
  }
  filelog {
    lab {
      path = ${dir}/charon.log
      time_format = %T
      default = 1
      ike = 2
      flush_line = yes
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
`;
}

/** The responder: PSK for itself, EAP-MD5 for the peers, virtual IPs from 10.91.0.0/24. */
export function responderSwanctlConf(users: string[]): string {
  const eap = users.map((u) => `  eap-${u} {\n    id = ${u}\n    secret = "pw-${u}"\n  }\n`).join('');
  return `connections {
  rw {
    version = 2
    encap = yes
    proposals = aes128-sha256-x25519
    pools = rwpool
    unique = never
    local {
      auth = psk
      id = server.lab.test
    }
    remote {
      auth = eap-md5
      eap_id = %any
    }
    children {
      net {
        local_ts = 10.92.0.0/24
        esp_proposals = aes128-sha256
      }
    }
  }
}
pools {
  rwpool {
    addrs = 10.91.0.0/24
  }
}
secrets {
  ike-all {
    secret = "${LAB_PSK}"
  }
${eap}}
`;
}

/**
 * Initiator `i`: IKE identity `client<i>@lab.test`, EAP identity `user`. `reconnect` makes it come
 * back by itself, as a phone's "VPN on demand" does; otherwise it stays down. It comes back when the
 * gateway deletes its SA (`close_action = start`), and also when its SA is one no gateway knows: the
 * gateway was killed without a word, or its new SA was made with a gateway that was stopping (dead
 * peer detection every 2 s, then `dpd_action = restart`). It tries forever (`keyingtries = 0`).
 */
export function clientSwanctlConf(i: number, user: string, reconnect = false): string {
  const dpd = reconnect ? '    dpd_delay = 2s\n    keyingtries = 0\n' : '';
  return `connections {
  home {
    version = 2
    encap = yes
${dpd}    proposals = aes128-sha256-x25519
    remote_addrs = 10.90.${i}.1
    vips = 0.0.0.0
    local {
      auth = eap-md5
      id = client${i}@lab.test
      eap_id = ${user}
    }
    remote {
      auth = psk
      id = server.lab.test
    }
    children {
      home {
        remote_ts = 10.92.0.0/24
        esp_proposals = aes128-sha256
        close_action = ${reconnect ? 'start' : 'none'}
        dpd_action = ${reconnect ? 'restart' : 'clear'}
      }
    }
  }
}
secrets {
  ike-all {
    secret = "${LAB_PSK}"
  }
  eap-me {
    id = ${user}
    secret = "pw-${user}"
  }
}
`;
}
