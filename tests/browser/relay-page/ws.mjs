// "ws" for @corti/sdk in a browser: the browser's own WebSocket (the SDK picks it there anyway).
export const { WebSocket } = globalThis;
export default WebSocket;
