import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadGatewayFile } from '../../config.js';

function load(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-occfg-'));
  try {
    writeFileSync(join(dir, 'gw.yaml'), yaml);
    return loadGatewayFile(join(dir, 'gw.yaml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("an openconnect entry names ocserv's occtl socket (and its namespace, occtl binary and block file)", () => {
  assert.deepEqual(
    load(`gateways:
  - { id: oc-1, name: Paris, protocol: openconnect, occtlSocket: /run/ocserv/occtl.socket }
  - { id: oc-2, name: Lyon, region: fr, protocol: openconnect, mode: authorize, occtlSocket: /run/oc2.socket, occtl: /usr/bin/occtl, netns: vpn, blockFile: /var/lib/switchboard/oc-2.blocks, snapshotIntervalSeconds: 5 }
`),
    [
      {
        id: 'oc-1',
        name: 'Paris',
        region: 'default',
        protocol: 'openconnect',
        mode: 'observe',
        occtlSocket: '/run/ocserv/occtl.socket',
        snapshotIntervalMs: undefined,
      },
      {
        id: 'oc-2',
        name: 'Lyon',
        region: 'fr',
        protocol: 'openconnect',
        mode: 'authorize',
        occtlSocket: '/run/oc2.socket',
        occtl: '/usr/bin/occtl',
        netns: 'vpn',
        blockFile: '/var/lib/switchboard/oc-2.blocks',
        snapshotIntervalMs: 5000,
      },
    ],
  );
});

test('a wrong openconnect entry is one clear line naming the field', () => {
  const cases: [string, RegExp][] = [
    ['{ id: oc-1, name: x, protocol: openconnect }', /occtlSocket/],
    [
      '{ id: oc-1, name: x, protocol: openconnect, occtlSocket: relative.sock }',
      /occtlSocket must be the absolute path/,
    ],
    ['{ id: oc-1, name: x, protocol: openconnect, occtlSocket: /s, management: unix:/m }', /management/],
    [
      '{ id: oc-1, name: x, protocol: openconnect, occtlSocket: /s, mode: authorize }',
      /blockFile: an openconnect gateway in authorize mode needs blockFile/,
    ],
    [
      '{ id: oc-1, name: x, protocol: openconnect, occtlSocket: /s, blockFile: /b }',
      /blockFile: an openconnect gateway in authorize mode/,
    ],
    [
      '{ id: oc-1, name: x, protocol: openconnect, occtlSocket: /s, netns: "a b" }',
      /netns must be a network namespace name/,
    ],
    ['{ id: oc-1, name: x, protocol: wireguardish, occtlSocket: /s }', /protocol must be one of openvpn, openconnect/],
  ];
  for (const [entry, message] of cases)
    assert.throws(
      () => load(`gateways:\n  - ${entry}\n`),
      (e) => e instanceof ConfigError && message.test(e.message),
      entry,
    );
});
