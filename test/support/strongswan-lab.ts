// The lab lives in src/lab; tests import it from here.
export * from '../../src/lab/strongswan-lab.js';
