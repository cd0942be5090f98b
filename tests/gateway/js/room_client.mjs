// A browser-style client of one room socket, speaking the frames a
// remult-partykit client sends and reads: subscribe, wait for the ack, read
// `data` (or `payload`), ping. Prints one JSON line per event for the test.
const [url, channel] = process.argv.slice(2);
const socket = new WebSocket(url);
const say = (event) => console.log(JSON.stringify(event));

socket.addEventListener("open", () => {
  socket.send(JSON.stringify({ type: "remult:subscribe", channel }));
});
socket.addEventListener("message", (event) => {
  if (event.data === undefined) return;
  const frame = JSON.parse(event.data);
  if (frame.type === "connected" && frame.channel === channel) {
    say({ event: "subscribed" });
  } else if (frame.type === "data" && frame.channel === channel) {
    const data = frame.data !== undefined ? frame.data : frame.payload;
    say({ event: "data", data, seq: frame.seq });
    socket.send("ping");
  } else if (frame.type === "pong") {
    say({ event: "pong" });
    socket.close();
  }
});
const deadline = setTimeout(() => process.exit(3), 20000);
socket.addEventListener("close", () => {
  say({ event: "closed" });
  clearTimeout(deadline);
});
