// The lab lives in src/lab (next to the OpenVPN one); tests import it from here.
export * from '../../src/lab/wireguard-lab.js';
