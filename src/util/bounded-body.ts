// Reads a whole request body up to a limit: undefined as soon as it grows past it (the rest is not
// read into memory). For the few small JSON bodies the shim answers itself.
export async function readBounded (source: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of source) {
    size += chunk.length
    if (size > maxBytes) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
