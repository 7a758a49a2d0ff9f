// A stock js-libp2p node (TCP + Noise + Yamux + GossipSub, npm defaults) driven by tests/integration/test_js_interop.py.
//
//   node tests/js/client.mjs <multiaddr of a swarm-node> <results topic>
//
// Prints JSON lines: {"event":"ready","peer_id":...} once dialled and the node is a subscriber of the topic,
// {"event":"message","data":HEX} for every message received on the topic. Reads commands on stdin:
// "attack" publishes two junk messages and one of 100 KiB (over the node's 16 KiB bound), then prints
// {"event":"attacked","sent":3}; "stop" exits.
import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { createInterface } from 'node:readline'

const [addr, topic] = process.argv.slice(2)
const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) }
})
const pubsub = node.services.pubsub
pubsub.addEventListener('message', (evt) => {
  if (evt.detail.topic === topic) emit('message', { data: Buffer.from(evt.detail.data).toString('hex') })
})
pubsub.subscribe(topic)
const target = multiaddr(addr)
const conn = await node.dial(target)
const remote = conn.remotePeer.toString()
const deadline = Date.now() + 30000
while (!pubsub.getSubscribers(topic).some((p) => p.toString() === remote)) {
  if (Date.now() > deadline) { emit('error', { message: 'the node never showed as a subscriber' }); process.exit(1) }
  await new Promise((resolve) => setTimeout(resolve, 50))
}
emit('ready', {
  peer_id: node.peerId.toString(), addr: node.getMultiaddrs()[0].toString(), remote,
  muxer: conn.multiplexer, encryption: conn.encryption
})

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'attack') {
    const junk = [Buffer.from('\xc1junk one'), Buffer.from('\xc1junk two'), Buffer.alloc(100 * 1024, 7)]
    for (const data of junk) await pubsub.publish(topic, data)
    emit('attacked', { sent: junk.length })
  } else if (line.trim() === 'stop') {
    break
  }
}
await node.stop()
process.exit(0)
