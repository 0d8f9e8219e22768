#!/usr/bin/env node
/** The `vitalgate` command: one entry point for everything a person runs. */
import { Command } from 'commander';
import type { Command as CommandType } from 'commander';

// The gateway fsyncs many small files in parallel; libuv's default of 4 threads would serialise
// them. Set before the first asynchronous fs call creates the pool; an operator's value wins.
process.env.UV_THREADPOOL_SIZE ??= '16';

// A reader that stops early (`vitalgate open | head`) closes the pipe: that is not an error. Exit
// at once, quietly and with status 0, for every command, so no loop keeps writing into the void.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  process.stderr.write(`vitalgate: stdout: ${e.message}\n`);
  process.exit(1);
});

const program = new Command()
  .name('vitalgate')
  .description('Secure pipeline for wearable vital signs: devices → MQTT broker → edge gateway → sealed, key-rotated batches')
  .version('0.1.0')
  .showHelpAfterError('(add --help for usage)')
  // `sim` and its subcommands share option names (--broker, --duration): each belongs to the command it follows.
  .enablePositionalOptions();

type Register = (program: CommandType) => void;

/**
 * Each command's module, loaded only when needed: a command's dependencies (the cloud service's
 * web server and S3 client, the chain library, the broker) cost about a second to load, and one
 * command needs few of them. `vitalgate --help` and unknown commands load them all.
 */
const COMMANDS: Array<[names: readonly string[], load: () => Promise<Register>]> = [
  [['start'], async () => (await import('./commands/start.js')).registerStart],
  [['run'], async () => (await import('./commands/run.js')).registerRun],
  [['open'], async () => (await import('./commands/open.js')).registerOpen],
  [['sim'], async () => (await import('./commands/sim.js')).registerSim],
  [['broker'], async () => (await import('./commands/broker.js')).registerBroker],
  [['gateway', 'epoch'], async () => (await import('./commands/gateway.js')).registerGateway],
  [['devices', 'gateways'], async () => (await import('./commands/devices.js')).registerDevices],
  [['decode'], async () => (await import('./commands/decode.js')).registerDecode],
  [['wfdb'], async () => (await import('./commands/wfdb.js')).registerWfdb],
  [['ecg'], async () => (await import('./commands/ecg.js')).registerEcg],
  [['keys'], async () => (await import('./commands/keys/index.js')).registerKeys],
  [['chain'], async () => {
    const [{ registerChain }, { registerChainGas }] = await Promise.all([import('./commands/chain.js'), import('./commands/chain-gas.js')]);
    return (p) => {
      registerChain(p);
      registerChainGas(p.commands.find((c) => c.name() === 'chain')!);
    };
  }],
  [['consent'], async () => (await import('./commands/consent/index.js')).registerConsent],
  [['verify'], async () => (await import('./commands/chain.js')).registerVerify],
  [['ingest'], async () => (await import('./commands/ingest/index.js')).registerIngest],
  [['fetch'], async () => (await import('./commands/fetch.js')).registerFetch],
  [['audit'], async () => (await import('./commands/audit.js')).registerAudit],
  [['clinicians'], async () => (await import('./commands/clinicians.js')).registerClinicians],
  [['care-teams'], async () => (await import('./commands/care-teams.js')).registerCareTeams],
  [['export'], async () => (await import('./commands/export.js')).registerExport],
];

const args = process.argv.slice(2);
const named = args.find((a) => !a.startsWith('-'));
const only = COMMANDS.find(([names]) => named !== undefined && names.includes(named));
const versionOnly = named === undefined && args.length > 0 && args.every((a) => a === '--version' || a === '-V');
if (!versionOnly) for (const [, load] of only ? [only] : COMMANDS) (await load())(program);

// Bad input exits 2; an error that carries its own status (no data directory there: 1) uses it.
program.parseAsync(process.argv).catch((e: Error & { exitCode?: unknown }) => {
  process.stderr.write(`vitalgate: ${e.message}\n`);
  process.exit(typeof e.exitCode === 'number' ? e.exitCode : 2);
});
