#!/usr/bin/env node
/**
 * Compiles contracts/solidity/*.sol with solc-js (the npm `solc` package, whose compiler is embedded:
 * nothing is downloaded), then writes
 *   - contracts/artifacts/<Name>.json        {contractName, sourceName, abi, bytecode, deployedBytecode}
 *   - contracts/src/generated/artifacts.ts   the ABIs `as const` and bytecodes, for any client
 *   - contracts/src/generated/typechain/     TypeChain (@typechain/ethers-v6) typed bindings and factories
 * Both output folders are gitignored and produced by `npm run build`, which runs this before `tsc -b`.
 *
 * Incremental: the outputs carry a stamp, the SHA-256 of every input (the .sol sources, the versions of
 * solc, @openzeppelin/contracts and TypeChain, the settings and this script); when it matches, nothing
 * is done. `--force` recompiles anyway.
 *
 * Plain JavaScript on purpose: it runs before TypeScript is compiled.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const scriptPath = fileURLToPath(import.meta.url);
const pkgDir = resolve(dirname(scriptPath), '..');
const require = createRequire(import.meta.url);

const SOURCE_DIR = join(pkgDir, 'solidity');
const ARTIFACT_DIR = join(pkgDir, 'artifacts');
const GENERATED_DIR = join(pkgDir, 'src', 'generated');
const STAMP_FILE = join(GENERATED_DIR, '.stamp');
/** The deployable contracts; abstract bases (RootLog) and OpenZeppelin's are not emitted. */
const CONTRACTS = ['Registry', 'Consent', 'DataAnchor', 'AuditLog'];
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // cancun: PUSH0/MCOPY are used; every current EVM JSON-RPC endpoint (anvil, Besu, Geth) supports it.
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

const force = process.argv.includes('--force');
const quiet = process.argv.includes('--quiet');
const log = (msg) => {
  if (!quiet) process.stdout.write(`contracts: ${msg}\n`);
};

function packageRoot(name) {
  return dirname(require.resolve(`${name}/package.json`));
}
function packageVersion(name) {
  return JSON.parse(readFileSync(join(packageRoot(name), 'package.json'), 'utf8')).version;
}

const solFiles = readdirSync(SOURCE_DIR)
  .filter((f) => f.endsWith('.sol'))
  .sort();
const sources = Object.fromEntries(solFiles.map((f) => [f, { content: readFileSync(join(SOURCE_DIR, f), 'utf8') }]));

const hash = createHash('sha256');
hash.update(readFileSync(scriptPath));
hash.update(JSON.stringify(SETTINGS));
for (const name of ['solc', '@openzeppelin/contracts', 'typechain', '@typechain/ethers-v6']) {
  hash.update(`${name}@${packageVersion(name)}\n`);
}
for (const f of solFiles) hash.update(`${f}\n${sources[f].content}\n`);
const stamp = hash.digest('hex');

const outputsPresent =
  existsSync(join(GENERATED_DIR, 'artifacts.ts')) &&
  existsSync(join(GENERATED_DIR, 'typechain', 'index.ts')) &&
  CONTRACTS.every((c) => existsSync(join(ARTIFACT_DIR, `${c}.json`)));
if (!force && outputsPresent && existsSync(STAMP_FILE) && readFileSync(STAMP_FILE, 'utf8').trim() === stamp) {
  if (process.argv.includes('--verbose')) log('up to date');
  process.exit(0);
}

const started = Date.now();
const solc = require('solc');
const ozRoot = packageRoot('@openzeppelin/contracts');

/** Resolves imports that are not in `sources`: only @openzeppelin/contracts, from node_modules. */
function findImports(path) {
  const prefix = '@openzeppelin/contracts/';
  if (!path.startsWith(prefix)) return { error: `import not found: ${path}` };
  const file = resolve(ozRoot, path.slice(prefix.length));
  if (relative(ozRoot, file).startsWith('..')) return { error: `import escapes @openzeppelin/contracts: ${path}` };
  try {
    return { contents: readFileSync(file, 'utf8') };
  } catch (e) {
    return { error: `cannot read ${path}: ${e.message}` };
  }
}

const input = { language: 'Solidity', sources, settings: SETTINGS };
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const problems = output.errors ?? [];
for (const p of problems) {
  // Warnings about our own sources only: OpenZeppelin's are not ours to fix.
  const file = p.sourceLocation?.file ?? '';
  if (p.severity !== 'error' && !file.startsWith('@openzeppelin/')) {
    process.stderr.write(`${p.formattedMessage ?? p.message}\n`);
  }
}
const errors = problems.filter((p) => p.severity === 'error');
if (errors.length > 0) {
  for (const e of errors) process.stderr.write(`${e.formattedMessage ?? e.message}\n`);
  process.stderr.write(`contracts: solc ${solc.version()} failed with ${errors.length} error(s)\n`);
  process.exit(1);
}

/** Writes a file atomically (temp file + rename). */
function writeAtomic(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

rmSync(ARTIFACT_DIR, { recursive: true, force: true });
const artifacts = {};
for (const name of CONTRACTS) {
  const sourceName = `${name}.sol`;
  const c = output.contracts?.[sourceName]?.[name];
  if (!c) {
    process.stderr.write(`contracts: no output for ${sourceName}:${name}\n`);
    process.exit(1);
  }
  const artifact = {
    contractName: name,
    sourceName,
    compiler: `solc ${solc.version()}`,
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode.object}`,
    deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
  };
  artifacts[name] = artifact;
  writeAtomic(join(ARTIFACT_DIR, `${name}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
}

// ABIs `as const` and bytecodes.
let ts = `// Generated by contracts/scripts/compile.mjs from contracts/solidity with ${artifacts.Registry.compiler}. Do not edit.\n\n`;
ts += `export const SOLC_VERSION = ${JSON.stringify(solc.version())};\n\n`;
for (const name of CONTRACTS) {
  const a = artifacts[name];
  const lower = name[0].toLowerCase() + name.slice(1);
  ts += `export const ${lower}Abi = ${JSON.stringify(a.abi, null, 2)} as const;\n\n`;
  ts += `export const ${lower}Bytecode = ${JSON.stringify(a.bytecode)} as const;\n\n`;
  ts += `export const ${lower}DeployedBytecode = ${JSON.stringify(a.deployedBytecode)} as const;\n\n`;
}
rmSync(GENERATED_DIR, { recursive: true, force: true });
writeAtomic(join(GENERATED_DIR, 'artifacts.ts'), ts);

// TypeChain bindings (ethers v6), with .js import suffixes for NodeNext ESM.
const { runTypeChain } = await import('typechain');
const files = CONTRACTS.map((n) => join(ARTIFACT_DIR, `${n}.json`));
await runTypeChain({
  cwd: pkgDir,
  filesToProcess: files,
  allFiles: files,
  inputDir: ARTIFACT_DIR,
  outDir: join(GENERATED_DIR, 'typechain'),
  target: 'ethers-v6',
  flags: { alwaysGenerateOverloads: false, discriminateTypes: false, node16Modules: true, environment: undefined },
});

writeAtomic(STAMP_FILE, `${stamp}\n`);
const sizes = CONTRACTS.map((n) => `${n} ${(artifacts[n].deployedBytecode.length - 2) / 2} B`).join(', ');
log(`compiled with solc ${solc.version()} in ${((Date.now() - started) / 1000).toFixed(1)} s (${sizes})`);
