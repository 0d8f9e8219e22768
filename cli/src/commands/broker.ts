import type { Command } from 'commander';
import { startBroker } from '@vitalgate/broker';
import { port } from '../options.js';

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the embedded MQTT broker until Ctrl-C')
    .option('--host <addr>', 'bind address (loopback by default: this broker does not authenticate yet)', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 = a free one)', port, 1883)
    .action(async (o: { host: string; port: number }) => {
      const b = await startBroker({ host: o.host, port: o.port });
      process.stderr.write(`broker listening on ${b.url}\n`);
      // Machine-readable line for supervisors that start us on port 0.
      process.stdout.write(JSON.stringify({ event: 'listening', url: b.url, port: b.port }) + '\n');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      const s = b.stats();
      await b.close();
      process.stderr.write(`broker stopped after ${s.messagesIn} messages in\n`);
    });
}
