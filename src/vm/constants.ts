/** Name of the virtio-serial port that carries the host<->guest JSON-RPC. */
export const RPC_PORT_NAME = 'org.mirrorlab.rpc';
