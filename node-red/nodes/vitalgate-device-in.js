// Node-RED loads node files with require(); the palette's code is ESM (TypeScript in ../src), so
// this CommonJS shim imports it and registers the node (Node-RED waits for the returned promise).
module.exports = async function (RED) {
  const { registerDeviceIn } = await import('../dist/src/index.js');
  registerDeviceIn(RED);
};
