// Node-RED loads node files with require(); the palette's code is ESM (TypeScript in ../src), so
// this CommonJS shim imports it and registers the node (Node-RED waits for the returned promise).
module.exports = async function (RED) {
  const { registerFhir } = await import('../dist/src/index.js');
  registerFhir(RED);
};
