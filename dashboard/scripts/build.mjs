// Bundles the browser app (app/*.ts) with esbuild into dist/app: no CDN, no inline script, no eval,
// so the page runs under a strict Content-Security-Policy. Type-checking is tsc's (tsconfig.app.json).
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, 'dist', 'app');
const require = createRequire(import.meta.url);
const started = Date.now();
// Chunk names carry a content hash: an old build's would pile up beside the new ones.
await rm(join(out, 'chunks'), { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'app', 'main.ts'), 'decrypt-worker': join(root, 'app', 'decrypt-worker.ts') },
  // Splitting: ethers (only break-glass uses it, through import()) is a chunk of its own, fetched on
  // first use; code both entries share (protocol, noble) is one chunk, cached once.
  outdir: out, bundle: true, splitting: true, chunkNames: 'chunks/[name]-[hash]', format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: true,
  legalComments: 'linked', logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) await copyFile(join(root, 'app', f), join(out, f));
await copyFile(require.resolve('uplot/dist/uPlot.min.css'), join(out, 'uPlot.min.css'));
process.stdout.write(`dashboard: bundled into ${out} in ${Date.now() - started} ms\n`);
