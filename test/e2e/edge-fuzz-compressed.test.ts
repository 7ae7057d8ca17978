// edge-fuzz.test.ts with compressed answers on the tunnel (modules.edgeHub.compression: auto): the
// decoder between the tunnel stream and the pod is one more stage that must let go of its stream,
// its slot and its connection whatever the pod does. Same seed and checks; see that file.
process.env.EMS_FUZZ_COMPRESSION = 'auto'
await import('./edge-fuzz.test.js')
