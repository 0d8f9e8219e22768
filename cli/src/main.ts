#!/usr/bin/env node
/** The `vitalgate` command: one entry point for everything a person runs. */
import { Command } from 'commander';
import { registerBroker } from './commands/broker.js';
import { registerDecode } from './commands/decode.js';
import { registerDevices } from './commands/devices.js';
import { registerWfdb } from './commands/wfdb.js';
import { registerEcg } from './commands/ecg.js';
import { registerKeys } from './commands/keys/index.js';
import { registerChain, registerVerify } from './commands/chain.js';
import { registerChainGas } from './commands/chain-gas.js';
import { registerConsent } from './commands/consent/index.js';
import { registerGateway } from './commands/gateway.js';
import { registerOpen } from './commands/open.js';
import { registerIngest } from './commands/ingest/index.js';
import { registerFetch } from './commands/fetch.js';
import { registerAudit } from './commands/audit.js';
import { registerClinicians } from './commands/clinicians.js';
import { registerCareTeams } from './commands/care-teams.js';
import { registerRun } from './commands/run.js';
import { registerSim } from './commands/sim.js';
import { registerStart } from './commands/start.js';
import { registerExport } from './commands/export.js';

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

registerStart(program);
registerRun(program);
registerOpen(program);
registerSim(program);
registerBroker(program);
registerGateway(program);
registerDevices(program);
registerDecode(program);
registerWfdb(program);
registerEcg(program);
registerKeys(program);
registerChain(program);
registerChainGas(program.commands.find((c) => c.name() === 'chain')!);
registerConsent(program);
registerVerify(program);
registerIngest(program);
registerFetch(program);
registerAudit(program);
registerClinicians(program);
registerCareTeams(program);
registerExport(program);

// Bad input exits 2; an error that carries its own status (no data directory there: 1) uses it.
program.parseAsync(process.argv).catch((e: Error & { exitCode?: unknown }) => {
  process.stderr.write(`vitalgate: ${e.message}\n`);
  process.exit(typeof e.exitCode === 'number' ? e.exitCode : 2);
});
