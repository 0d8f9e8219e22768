// Bundles the browser app (app/*.ts) with esbuild into dist/app: no CDN, no inline script, no eval,
// so the page runs under a strict Content-Security-Policy. Type-checking is tsc's (tsconfig.app.json).
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, 'dist', 'app');
const require = createRequire(import.meta.url);
const started = Date.now();
// Chunk names carry a content hash: an old build's would pile up beside the new ones.
await rm(join(out, 'chunks'), { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  metafile: true,
  entryPoints: { app: join(root, 'app', 'main.ts'), 'decrypt-worker': join(root, 'app', 'decrypt-worker.ts') },
  // Splitting: ethers (only break-glass uses it, through import()) is a chunk of its own, fetched on
  // first use; code both entries share (protocol, noble) is one chunk, cached once.
  outdir: out, bundle: true, splitting: true, chunkNames: 'chunks/[name]-[hash]', format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: true,
  legalComments: 'linked', logLevel: 'warning',
});
await copyFile(join(root, 'app', 'style.css'), join(out, 'style.css'));
// The chunks app.js imports statically, preloaded from the page: without it the browser finds them
// only once app.js has arrived and been parsed, a round trip more before the first line runs.
const appOut = Object.entries(result.metafile.outputs).find(([, v]) => v.entryPoint?.endsWith('app/main.ts'));
if (!appOut) throw new Error('esbuild wrote no app.js');
const preload = appOut[1].imports.filter((i) => i.kind === 'import-statement' && !i.external)
  .map((i) => `  <link rel="modulepreload" href="./${relative(out, join(process.cwd(), i.path)).split(sep).join('/')}">`);
const html = await readFile(join(root, 'app', 'index.html'), 'utf8');
if (!html.includes('<!-- modulepreload -->')) throw new Error('app/index.html lacks the <!-- modulepreload --> marker');
await writeFile(join(out, 'index.html'), html.replace('<!-- modulepreload -->', preload.join('\n').trimStart()));
await copyFile(require.resolve('uplot/dist/uPlot.min.css'), join(out, 'uPlot.min.css'));
process.stdout.write(`dashboard: bundled into ${out} in ${Date.now() - started} ms\n`);
