/**
 * `vitalgate care-teams create|add|remove|list`: care teams on the Registry. A patient may grant a
 * team as it grants a clinician; each member reads through the team's grant. Removing a member makes
 * every gateway start a new epoch for the team's patients, so the member gets no key to anything
 * sealed afterwards.
 */
import type { Command } from 'commander';
import { getAddress, isAddress } from 'ethers';
import { Registry__factory } from '@vitalgate/contracts';
import { adminChainOptions, sendTx, withAdminChain, type AdminChainOpts } from '../chain/admin.js';

interface Opts extends AdminChainOpts { json?: boolean }

const errors = (name: string, args: readonly unknown[]): string | undefined => {
  switch (name) {
    case 'UnknownCareTeam': return `${String(args[0])} is not a care team (vitalgate care-teams list)`;
    case 'NotClinician': return `${String(args[0])} is not a registered clinician (vitalgate clinicians add)`;
    case 'AlreadyMember': return `${String(args[1])} is already a member of ${String(args[0])}`;
    case 'NotMember': return `${String(args[1])} is not a member of ${String(args[0])}`;
    case 'TooManyTeams': return `${String(args[0])} is in as many care teams as the Registry allows`;
    case 'AccessControlUnauthorizedAccount': return `${String(args[0])} is not a Registry admin`;
    default: return undefined;
  }
};

function address(v: string, what: string): string {
  if (!isAddress(v)) throw new Error(`${what} ${JSON.stringify(v)} is not a 0x address`);
  return getAddress(v);
}

const registryIface = Registry__factory.createInterface();

export function registerCareTeams(program: Command): void {
  const cmd = program.command('care-teams').description('care teams on the Registry: create, add and remove members, list');

  adminChainOptions(cmd.command('create').argument('<name>', 'the team\'s name, e.g. "cardiology, ward 3"'), true)
    .description('create a care team (admin only); prints its address, which patients grant to')
    .option('--json', 'print {team, name, tx, block}')
    .addHelpText('after', `
Example:
  vitalgate care-teams create "cardiology, ward 3"
  vitalgate care-teams create "night shift" --chain-url https://rpc.example.org --deployment deployment.json --admin-key-file admin.key`)
    .action(async (name: string, o: Opts) => {
      if (!name.trim()) throw new Error('the team needs a name');
      await withAdminChain(o, true, async (s) => {
        const tx = await sendTx(() => s.contracts.registry.connect(s.admin!).createCareTeam(name), errors);
        let team: string | undefined;
        for (const l of tx.logs) {
          try {
            const ev = registryIface.parseLog({ topics: [...l.topics], data: l.data });
            if (ev?.name === 'CareTeamCreated') team = getAddress(ev.args.team as string);
          } catch { /* another contract's log */ }
        }
        if (!team) throw new Error(`transaction ${tx.hash} created no care team`);
        if (o.json) process.stdout.write(JSON.stringify({ team, name, tx: tx.hash, block: tx.block }) + '\n');
        else process.stdout.write(`care team "${name}" is ${team}\n`);
      });
    });

  for (const [sub, desc] of [['add', 'add a registered clinician to a care team'], ['remove', 'remove a member from a care team (it gets no key to anything sealed afterwards)']] as const) {
    adminChainOptions(cmd.command(sub).argument('<team>', 'the care team\'s address').argument('<clinician>', 'the clinician\'s address'), true)
      .description(`${desc} (admin only)`)
      .option('--json', 'print {team, clinician, tx, block}')
      .addHelpText('after', `
Example:
  vitalgate care-teams ${sub} 0x5FbDB2315678afecb367f032d93F642f64180aa3 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc
(the team's address is printed by \`vitalgate care-teams create\` and \`list\`; the clinician's by \`vitalgate clinicians list\`)`)
      .action(async (teamArg: string, clinicianArg: string, o: Opts) => {
        const team = address(teamArg, 'team');
        const clinician = address(clinicianArg, 'clinician');
        await withAdminChain(o, true, async (s) => {
          const r = s.contracts.registry.connect(s.admin!);
          const tx = await sendTx(() => (sub === 'add' ? r.addCareTeamMember(team, clinician) : r.removeCareTeamMember(team, clinician)), errors);
          if (o.json) process.stdout.write(JSON.stringify({ team, clinician, tx: tx.hash, block: tx.block }) + '\n');
          else process.stdout.write(`${clinician} ${sub === 'add' ? 'added to' : 'removed from'} ${team}\n`);
        });
      });
  }

  adminChainOptions(cmd.command('list'), false)
    .description('every care team with its name and members')
    .option('--json', 'print a JSON array of {team, name, members}')
    .addHelpText('after', `
Example:
  vitalgate care-teams list --json`)
    .action(async (o: Opts) => {
      await withAdminChain(o, false, async (s) => {
        const r = s.contracts.registry;
        const out = [];
        for (const e of await r.queryFilter(r.filters.CareTeamCreated(), s.deployment.deployedAtBlock)) {
          const team = getAddress(e.args.team);
          out.push({ team, name: e.args.name, members: [...(await r.careTeamMembers(team))].map((m) => getAddress(m)) });
        }
        if (o.json) {
          process.stdout.write(JSON.stringify(out) + '\n');
          return;
        }
        if (!out.length) process.stdout.write('no care teams\n');
        for (const t of out) process.stdout.write(`${t.team}  "${t.name}"  ${t.members.length} member${t.members.length === 1 ? '' : 's'}${t.members.length ? `: ${t.members.join(', ')}` : ''}\n`);
      });
    });
}
