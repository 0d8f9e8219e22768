/**
 * `vitalgate devices …` and `vitalgate gateways …`: manage the broker's identity registry.
 *
 * `add` prints the new secret once on stdout (and nothing else there, so
 * `SECRET=$(vitalgate devices add d1 --patient p1)` works); the registry keeps only a salted
 * scrypt hash. A running `vitalgate broker --registry FILE` reloads the file when it changes, so
 * `revoke` disconnects that client at once.
 */
import type { Command } from 'commander';
import { DEFAULT_REGISTRY_PATH, Registry, type Identity } from '@vitalgate/broker';
import { STREAM_NAMES } from '@vitalgate/protocol';

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

const REGISTRY_HELP = `registry file (JSON, mode 0600; default ${DEFAULT_REGISTRY_PATH})`;

function describe(i: Identity): Record<string, unknown> {
  return {
    kind: i.kind,
    id: i.id,
    ...(i.kind === 'device' ? { patient: i.entry.patient, streams: i.entry.streams } : { patients: i.entry.patients }),
    createdAt: i.entry.createdAt,
    ...(i.entry.revokedAt && { revokedAt: i.entry.revokedAt }),
  };
}

function registerKind(program: Command, kind: 'device' | 'gateway'): void {
  const plural = `${kind}s`;
  const cmd = program
    .command(plural)
    .description(`manage the ${plural} the broker accepts (identity registry for \`vitalgate broker --registry\`)`);

  const add = cmd
    .command('add')
    .argument('<id>', `${kind} id: the MQTT username and clientId (1-64 of A-Z a-z 0-9 . _ -)`)
    .option('--registry <file>', REGISTRY_HELP, DEFAULT_REGISTRY_PATH)
    .option('--replace', 'issue a new secret for an existing or revoked id (disconnects it if connected)');
  if (kind === 'device') {
    add
      .description('register a device; prints its secret ONCE on stdout (only a scrypt hash is stored)')
      .requiredOption('--patient <id>', 'the patient this device measures; it may publish only under vg/v1/{patient}/{id}/')
      .option('--streams <list>', `comma-separated streams it may publish (default all: ${STREAM_NAMES.join(',')})`, list);
  } else {
    add
      .description('register a gateway; prints its secret ONCE on stdout (only a scrypt hash is stored)')
      .requiredOption('--patients <list>', 'comma-separated patients whose topics (vg/v1/{patient}/…) it may subscribe to', list);
  }
  add.action(async (id: string, o: { registry: string; replace?: boolean; patient?: string; streams?: string[]; patients?: string[] }) => {
    const reg = await Registry.load(o.registry, { allowMissing: true });
    const { secret } = kind === 'device'
      ? await reg.addDevice(id, o.patient!, o.streams ?? STREAM_NAMES, { replace: !!o.replace })
      : await reg.addGateway(id, o.patients!, { replace: !!o.replace });
    await reg.save(o.registry);
    const i = reg.get(id)!;
    const what = i.kind === 'device' ? `patient ${i.entry.patient}, streams ${i.entry.streams.join(',')}` : `patients ${i.entry.patients.join(',')}`;
    process.stderr.write(`${kind} ${id} (${what}) ${o.replace ? 'replaced' : 'added'} in ${o.registry}.\n`
      + `Its secret (MQTT password, username and clientId "${id}") is on stdout. It is shown only now and not stored.\n`);
    process.stdout.write(secret + '\n');
  });

  cmd
    .command('revoke')
    .description(`revoke a ${kind}: a broker running with this registry disconnects it at once and refuses it from then on`)
    .argument('<id>')
    .option('--registry <file>', REGISTRY_HELP, DEFAULT_REGISTRY_PATH)
    .action(async (id: string, o: { registry: string }) => {
      const reg = await Registry.load(o.registry);
      reg.revoke(id, kind);
      await reg.save(o.registry);
      process.stderr.write(`${kind} ${id} revoked in ${o.registry}\n`);
    });

  cmd
    .command('list')
    .description(`list ${plural} (never their secrets)`)
    .option('--registry <file>', REGISTRY_HELP, DEFAULT_REGISTRY_PATH)
    .option('--json', 'one JSON object per line')
    .action(async (o: { registry: string; json?: boolean }) => {
      const reg = await Registry.load(o.registry, { allowMissing: true });
      for (const i of reg.list().filter((x) => x.kind === kind)) {
        const d = describe(i);
        if (o.json) process.stdout.write(JSON.stringify(d) + '\n');
        else {
          const acl = i.kind === 'device' ? `patient=${i.entry.patient} streams=${i.entry.streams.join(',')}` : `patients=${i.entry.patients.join(',')}`;
          process.stdout.write(`${i.id}\t${acl}\t${i.entry.revokedAt ? `REVOKED ${i.entry.revokedAt}` : 'active'}\n`);
        }
      }
    });
}

export function registerDevices(program: Command): void {
  registerKind(program, 'device');
  registerKind(program, 'gateway');
}
