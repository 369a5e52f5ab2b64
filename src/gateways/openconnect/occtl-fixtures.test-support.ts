/** What occtl 1.1.6 prints, for unit tests of the parsers and the adapter. */

/** One user as occtl 1.1.6 prints it with `-j show users` (the key "Routes" twice, as it does). */
export function occtlUserJson(
  over: { id?: number; user?: string; group?: string; safeId?: string; age?: string; rx?: string; state?: string } = {},
): string {
  return `  {
    "ID":  ${over.id ?? 12722},
    "Username":  ${JSON.stringify(over.user ?? 'user2')},
    "Groupname":  ${JSON.stringify(over.group ?? '(none)')},
    "State":  ${JSON.stringify(over.state ?? 'connected')},
    "vhost":  "default",
    "Device":  "vpns1",
    "MTU":  "1434",
    "Remote IP":  "192.0.2.7",
    "Location":  "unknown",
    "Local Device IP":  "127.0.0.1",
    "IPv4":  "10.93.0.249",
    "P-t-P IPv4":  "10.93.0.1",
    "User-Agent":  "Open AnyConnect VPN Agent v9.01-3",
    "RX":  ${JSON.stringify(over.rx ?? '1200')},
    "TX":  "3400",
    "_RX":  "1.2 KB",
    "_TX":  "3.4 KB",
    "DPD":  "90",
    "KeepAlive":  "32400",
    "Hostname":  "laptop",
    "Connected at":  "2026-12-06 10:01",
    "_Connected at":  ${JSON.stringify(over.age ?? '   42s')},
    "Full session":  ${JSON.stringify(over.safeId ?? 'r19iEhajdKCCN3bYUcEZpwG2hx4=')},
    "Session":  "r19iEh",
    "TLS ciphersuite":  "(TLS1.3)-(ECDHE-SECP256R1)-(ECDSA-SECP256R1-SHA256)-(AES-256-GC",
    "DNS":	[],
    "Routes":	[],
    "Routes":  "defaultroute",
    "Restricted to routes":  "False",
    "Restricted to ports":	[]
  }`;
}

/** `-j show users` / `-j show id` with these users. */
export function occtlUsersJson(...users: Parameters<typeof occtlUserJson>[0][]): string {
  return `[\n${users.map((u) => occtlUserJson(u)).join(',\n\n')}\n]\n`;
}
