/**
 * Builds the operator console into dist/ui (served by `switchboard start` at /). Everything is bundled:
 * no CDN, no font or script fetched at run time.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // Hashed file names under assets/: the server may cache them for a year.
    assetsDir: 'assets',
    sourcemap: false,
  },
  // `npm run dev:ui`: the console on Vite's dev server, the API of a running `switchboard start`.
  server: { proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } } },
});
