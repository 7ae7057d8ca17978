// Writes what `join` received, so that a failure leaves either the old files or the new ones and
// never a mix: every file is first written beside its target (same directory, so rename(2) is
// atomic), then all are renamed in one go; a failure before the renames removes the temporaries.
// Keys are 0640 root:edge-metaserver (the unit's group reads them) when that group exists or can be
// created (as root); otherwise 0600 owned by whoever ran join, and the caller says so.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { promisify } from 'node:util'

export const SERVICE_GROUP = 'edge-metaserver'

export interface OutFile { path: string, content: string, secret: boolean }

/** How keys end up protected, for the operator's summary. */
export type KeyAccess = { mode: 0o640, gid: number } | { mode: 0o600, why: string }

/** The gid of the service group: looked up, or created when running as root. */
export async function keyAccess (): Promise<KeyAccess> {
  let gid = await groupId(SERVICE_GROUP)
  const root = process.getuid?.() === 0
  if (gid === undefined && root) {
    await promisify(execFile)('groupadd', ['--system', SERVICE_GROUP]).catch(() => undefined)
    gid = await groupId(SERVICE_GROUP)
  }
  if (gid !== undefined && root) return { mode: 0o640, gid }
  return { mode: 0o600, why: root ? `group ${SERVICE_GROUP} could not be created` : `not root: keys belong to uid ${process.getuid?.() ?? '?'}` }
}

async function groupId (name: string): Promise<number | undefined> {
  const groups = await readFile('/etc/group', 'utf8').catch(() => '')
  const line = groups.split('\n').find((l) => l.startsWith(`${name}:`))
  const gid = Number(line?.split(':')[2])
  return Number.isInteger(gid) ? gid : undefined
}

export async function writeAll (files: readonly OutFile[], access: KeyAccess): Promise<void> {
  const suffix = `.join-${randomBytes(4).toString('hex')}.tmp`
  const written: string[] = []
  try {
    for (const f of files) {
      await mkdir(dirname(f.path), { recursive: true, mode: 0o755 })
      const tmp = f.path + suffix
      written.push(tmp)
      await writeFile(tmp, f.content, { mode: f.secret ? access.mode : 0o644, flag: 'wx' })
      if (f.secret && access.mode === 0o640) await chown(tmp, 0, access.gid)
    }
    for (const f of files) await rename(f.path + suffix, f.path)
  } catch (err) {
    await Promise.all(written.map((tmp) => rm(tmp, { force: true })))
    throw err
  }
}
