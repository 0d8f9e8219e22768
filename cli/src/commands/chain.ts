import { join } from 'node:path';
import type { Command } from 'commander';
import { assertDataDir, dataDirLayout, isFiltering, parseBatchFilter, verifyIngest, verifyStore, type BatchFilterArgs, type CloudVerifyReport } from '@vitalgate/edge-gateway';
import { redactUrl } from '@vitalgate/protocol';
import { ALLOW_DEMO_OPTION, keystorePassphrase } from '../passphrase.js';
import { DEFAULT_DATA_DIR, port } from '../options.js';
import { chainDir, startEmbeddedChain } from '../chain/embedded.js';
import { StatusLine } from '../status-line.js';
import { addFilterOptions, FILTER_HELP } from '../read-options.js';

export function registerChain(program: Command): void {
  const chain = program.command('chain').description('the chain: embedded anvil, contracts, gas');
  chain
    .command('up')
    .description('start the embedded anvil chain (state kept in --chain-dir) and deploy the contracts once; runs until Ctrl-C')
    .option('--chain-dir <dir>', 'where anvil keeps its state and the deployment file', join(DEFAULT_DATA_DIR, 'chain'))
    .option('-p, --port <port>', 'JSON-RPC port on 127.0.0.1', port, 8545)
    .addHelpText('after', '\nGateways then use: vitalgate gateway --chain-url http://127.0.0.1:8545 --deployment <chain-dir>/deployment.json')
    .action(async (o: { chainDir: string; port: number }) => {
      const c = await startEmbeddedChain(o.chainDir, o.port);
      process.stderr.write(`anvil at ${c.url} (chain ${c.node.chainId}); contracts in ${c.deploymentFile}\n`);
      process.stdout.write(JSON.stringify({ event: 'ready', url: c.url, deploymentFile: c.deploymentFile, contracts: c.deployment.contracts }) + '\n');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await c.stop();
    });
}

export function registerVerify(program: Command): void {
  addFilterOptions(program
    .command('verify')
    .description('prove every stored batch against the chain: its bytes hash to its id, its Merkle proof leads to its root, and the root is anchored on chain')
    .option('--data-dir <dir>', 'gateway data directory', DEFAULT_DATA_DIR)
    .option('--chain-url <url>', 'JSON-RPC URL (default: the embedded chain in <data-dir>/chain)')
    .option('--deployment <file>', 'deployment file (default: <data-dir>/chain/deployment.json)')
    .option('--gateway <address>', 'the gateway account whose roots to check (default: <data-dir>/gateway-account.json)')
    .option('--json', 'print {gateway, batches, verified, failed, unanchored, failures, anchors, onChainOnly} as JSON')
    .option('--from-ingest [url]', 'prove the cloud copy instead: what that ingest service holds for this gateway, against the chain (and its catalog against its storage). Without a URL: the embedded ingest of `run`/`start`')
    .option('--passphrase-file <file>', 'with --from-ingest: the gateway passphrase, to sign requests as the gateway (or set VITALGATE_PASSPHRASE_FILE)')
    .option(...ALLOW_DEMO_OPTION))
    .addHelpText('after', `
No key is needed for the local store. Every root this gateway anchored on chain must also be in the
local anchor log, and every batch an anchor names must be in the store, so batches removed together
with their index and anchor records are reported too.

With --from-ingest, every root this gateway anchored must have its anchor record in the cloud, the
record's ids must rebuild the root, every batch it names must be in the cloud with bytes that hash
to its id, and the catalog must list exactly the stored batches. Nothing is decrypted; the
passphrase only unlocks the gateway's account, which ingest requires as the caller.

Exits 1 if anything failed; batches not anchored yet are counted, not failed.
${FILTER_HELP} With a filter, only the selected batches and the anchors that cover them
are proven; a root on chain missing from the local anchor log is always reported. The filters do
not apply to --from-ingest.

A directory with no gateway data is not created (nor its chain started): the command says so and
exits 1.`)
    .action(async (o: BatchFilterArgs & { dataDir: string; chainUrl?: string; deployment?: string; gateway?: string; json?: boolean; fromIngest?: string | true; passphraseFile?: string; allowDemoPassphrase?: boolean }) => {
      const filter = parseBatchFilter(o);
      if (o.fromIngest !== undefined && isFiltering(filter)) throw new Error('verify --from-ingest proves the whole cloud copy: --patient, --device, --stream, --from and --to apply to the local store only');
      await assertDataDir(o.dataDir);
      if (o.fromIngest !== undefined) return verifyCloud(o);
      const embedded = o.chainUrl ? undefined : await startEmbeddedChain(chainDir(o.dataDir));
      const status = new StatusLine(process.stderr, 2000);
      try {
        const r = await verifyStore(o.dataDir, {
          url: o.chainUrl ?? embedded!.url,
          deploymentFile: o.deployment ?? embedded?.deploymentFile ?? join(chainDir(o.dataDir), 'deployment.json'),
          ...(o.gateway && { gateway: o.gateway }),
        }, (done, total) => { if (done % 1000 === 0) status.update(`verifying ${done}/${total} batches`); }, filter);
        status.done();
        if (o.json) {
          process.stdout.write(JSON.stringify(r) + '\n');
        } else {
          for (const a of r.anchors) process.stdout.write(`root ${a.root}  ${a.batches} batches  block ${a.blockNumber} at ${new Date(a.blockTimestamp * 1000).toISOString()}  ${a.ok ? 'anchored' : 'NOT VALID'}\n`);
          for (const a of r.onChainOnly) process.stdout.write(`root ${a.root}  ${a.batches} batches  block ${a.blockNumber}  ON CHAIN ONLY: missing from the local anchor log\n`);
          for (const f of r.failures) process.stdout.write(`FAILED ${f.id}: ${f.reason}\n`);
          process.stdout.write(`${r.batches} batches: ${r.verified} verified, ${r.failed} failed, ${r.unanchored} not anchored yet\n`);
        }
        if (r.failed > 0) process.exitCode = 1;
      } finally {
        await embedded?.stop();
      }
    });
}

async function verifyCloud(o: { dataDir: string; chainUrl?: string; deployment?: string; json?: boolean; fromIngest?: string | true; passphraseFile?: string; allowDemoPassphrase?: boolean }): Promise<void> {
  if (typeof o.fromIngest === 'string' && !/^https?:\/\//.test(o.fromIngest)) throw new Error(`--from-ingest ${redactUrl(o.fromIngest)}: expected an http:// or https:// URL`);
  if (typeof o.fromIngest === 'string' && !o.chainUrl) throw new Error('verify --from-ingest <url> also needs --chain-url (and --deployment): the chain the gateway anchors on');
  const { passphrase } = await keystorePassphrase({ passphraseFile: o.passphraseFile, allowDemo: o.allowDemoPassphrase, keysDir: dataDirLayout(o.dataDir).keys });
  // Loaded only here: the embedded cloud brings the whole ingest service with it.
  const cloud = o.fromIngest === true ? await (await import('../cloud/embedded-ingest.js')).startEmbeddedCloud(o.dataDir) : undefined;
  const status = new StatusLine(process.stderr, 2000);
  try {
    const url = cloud?.url ?? (o.fromIngest as string);
    const r: CloudVerifyReport = await verifyIngest(o.dataDir, passphrase, url, {
      url: o.chainUrl ?? cloud!.chain.url,
      deploymentFile: o.deployment ?? cloud?.chain.deploymentFile ?? join(chainDir(o.dataDir), 'deployment.json'),
    }, (done, total) => { if (done % 500 === 0) status.update(`verifying the cloud copy: ${done}/${total} batches`); });
    status.done();
    if (o.json) {
      process.stdout.write(JSON.stringify(r) + '\n');
    } else {
      for (const a of r.anchors) process.stdout.write(`root ${a.root}  ${a.batches} batches  block ${a.blockNumber}  ${a.ok ? 'record in the cloud rebuilds it' : 'NOT VALID'}\n`);
      for (const f of r.failures) process.stdout.write(`FAILED ${f.id}: ${f.reason}\n`);
      const cat = r.catalog === 'not served' ? 'catalog not served' : `catalog ${r.catalog.rows} rows, ${r.catalog.missing} missing, ${r.catalog.extra} extra`;
      process.stdout.write(`cloud copy at ${redactUrl(url)}: ${r.batches} batches: ${r.verified} verified, ${r.failed} failed, ${r.unanchored} not anchored yet; ${cat}\n`);
    }
    if (r.failed > 0) process.exitCode = 1;
  } finally {
    await cloud?.stop();
  }
}
