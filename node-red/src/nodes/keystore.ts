/**
 * `vitalgate-keystore` (config node): the gateway's data directory and keystore. The flow holds the
 * path of a passphrase file, never the passphrase. Chain settings (for anchoring, and needed to
 * upload) are optional; an admin key, for development chains only, is also read from a file.
 */
import { GatewayHandle } from '../gateway-handle.js';
import { nodeLogger } from '../logger.js';
import { errorText, numProp, prop, type Node, type NodeDef, type RedApi } from '../red.js';

export interface KeystoreNode extends Node {
  handle: GatewayHandle;
}

export const isKeystoreNode = (n: unknown): n is KeystoreNode => typeof n === 'object' && n !== null && (n as KeystoreNode).handle instanceof GatewayHandle;

export function registerKeystore(RED: RedApi): void {
  RED.nodes.registerType('vitalgate-keystore', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this as KeystoreNode;
    const chainUrl = prop(def, 'chainUrl');
    const window = numProp(def, 'batchWindowMs', 0);
    const epoch = numProp(def, 'epochMinutes', 0);
    node.handle = new GatewayHandle({
      dataDir: prop(def, 'dataDir') || '.vitalgate',
      passphraseFile: prop(def, 'passphraseFile') || process.env.VITALGATE_PASSPHRASE_FILE || '',
      logger: nodeLogger(node, 'gateway', prop(def, 'logLevel') || 'warn'),
      ...(window && { batchWindowMs: window }),
      ...(epoch && { epochMinutes: epoch }),
      ...(chainUrl && { chain: { url: chainUrl, deploymentFile: prop(def, 'deploymentFile'), ...(prop(def, 'adminKeyFile') && { adminKeyFile: prop(def, 'adminKeyFile') }) } }),
    });
    // Started once every flow has: upload nodes have said where ingest is by then.
    const onStarted = () => {
      node.handle.start().catch((e: unknown) => node.error(`gateway did not start: ${errorText(e)}`));
    };
    RED.events.on('flows:started', onStarted);
    node.on('close', (_removed, done) => {
      RED.events.removeListener('flows:started', onStarted);
      node.handle.close().catch((e: unknown) => node.error(`gateway did not stop cleanly: ${errorText(e)}`)).finally(done);
    });
  });
}

/** The gateway handle of the keystore node a node's `keystore` property names. */
export function keystoreOf(RED: RedApi, def: NodeDef): GatewayHandle | undefined {
  const n = RED.nodes.getNode(prop(def, 'keystore'));
  return isKeystoreNode(n) ? n.handle : undefined;
}
