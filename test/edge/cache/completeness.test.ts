import t from 'tap'
import { afterCompleteList, afterEvent, canBeCompleteAt, coveringList, listAnswerable, WatchClaim, watchContinues, watchResumesAt } from '../../../src/edge/cache/completeness.js'

t.test('a complete list sets the claim, and never moves it back', async (t) => {
  t.same(afterCompleteList(undefined, '10'), { rv: '10', changedRv: '10' })
  t.same(afterCompleteList({ rv: '20', changedRv: '15' }, '30'), { rv: '30', changedRv: '30' }, 'a newer list: changes up to it are unknown')
  t.same(afterCompleteList({ rv: '20', changedRv: '15' }, '12'), { rv: '20', changedRv: '15' }, 'an older list (answered before a watch moved the row) keeps the newer claim')
  t.same(afterCompleteList({ rv: '20', changedRv: '15' }, '18'), { rv: '20', changedRv: '18' }, 'an older list still says something may have changed up to it')
})

t.test('only orderable versions can carry a claim', async (t) => {
  t.ok(canBeCompleteAt('1'))
  t.ok(canBeCompleteAt('123456789'))
  t.notOk(canBeCompleteAt(''))
  t.notOk(canBeCompleteAt('0'), '"0" means any version, not a point in time')
  t.notOk(canBeCompleteAt('abc'))
  t.notOk(canBeCompleteAt('01'))
})

t.test('watch events move the claim forward; bookmarks do not mark a change', async (t) => {
  const known = { rv: '10', changedRv: '8' }
  t.same(afterEvent(known, '12', true), { rv: '12', changedRv: '12' })
  t.same(afterEvent(known, '12', false), { rv: '12', changedRv: '8' }, 'a BOOKMARK: nothing changed')
  t.same(afterEvent(known, '9', true), { rv: '10', changedRv: '9' }, 'an event older than the claim does not move rv back')
})

t.test('a watch continues the claim only if it started inside what the cache knows', async (t) => {
  const known = { rv: '10', changedRv: '8' }
  t.ok(watchContinues(known, '10'), 'started at the row version')
  t.ok(watchContinues(known, '5'), 'started before it (events in between are replays)')
  t.notOk(watchContinues(known, '11'), 'started after it: events between 10 and 11 were not seen')
  t.notOk(watchContinues(known, ''), 'started at "any" version')
  t.notOk(watchContinues(known, '0'), 'started at "0" (any)')
  t.notOk(watchContinues(undefined, '5'), 'no claim to continue')
})

t.test('a held watch resumes only where nothing changed after the client version', async (t) => {
  const known = { rv: '20', changedRv: '15' }
  t.equal(watchResumesAt(known, '15'), '20', 'client at the last change: held at the claim')
  t.equal(watchResumesAt(known, '17'), '20')
  t.equal(watchResumesAt(known, '25'), '25', 'client newer than the claim: held at its own version')
  t.equal(watchResumesAt(known, '14'), undefined, 'a change after the client version cannot be replayed (410)')
  t.equal(watchResumesAt(known, 'abc'), undefined)
  t.equal(watchResumesAt(known, '0'), undefined, 'the caller serves "0" from scratch; here it is not a point in time')
})

t.test('a list is answered only when the cache is at least as new as asked', async (t) => {
  const known = { rv: '20', changedRv: '15' }
  t.same(listAnswerable(known, '', ''), { ok: true })
  t.same(listAnswerable(known, '0', ''), { ok: true })
  t.same(listAnswerable(known, '20', ''), { ok: true })
  t.same(listAnswerable(known, '19', 'NotOlderThan'), { ok: true })
  t.same(listAnswerable(known, '21', ''), { ok: false, reason: 'older' })
  t.same(listAnswerable(known, '21', 'Exact'), { ok: false, reason: 'older' })
  t.same(listAnswerable(known, '19', 'Exact'), { ok: false, reason: 'not-exact' })
  t.same(listAnswerable(known, '20', 'Exact'), { ok: true })
})

t.test('the covering list is the most specific complete one', async (t) => {
  const row = (namespace: string, labelSelector = '', fieldSelector = ''): { namespace: string, labelSelector: string, fieldSelector: string } => ({ namespace, labelSelector, fieldSelector })
  const scope = row('a', 'app=x')
  const exact = row('a', 'app=x')
  const nsAll = row('a')
  const clusterSame = row('', 'app=x')
  const clusterAll = row('')
  t.equal(coveringList(scope, [clusterAll, clusterSame, nsAll, exact]), exact)
  t.equal(coveringList(scope, [clusterAll, clusterSame, nsAll]), nsAll)
  t.equal(coveringList(scope, [clusterAll, clusterSame]), clusterSame)
  t.equal(coveringList(scope, [clusterAll]), clusterAll)
  t.equal(coveringList(scope, [row('b'), row('a', 'app=y'), row('a', '', 'metadata.name=n'), row('', 'app=y')]), undefined,
    'another namespace or another selector answers nothing')
})

t.test('a followed watch decides once, on its first event, whether it continues the claim', async (t) => {
  let row: { rv: string, changedRv: string } | undefined = { rv: '10', changedRv: '10' }
  let asked = 0
  const known = (): typeof row => { asked++; return row }

  const inside = new WatchClaim('9', false)
  t.notOk(inside.advances, 'undecided before its first event')
  inside.decide(known)
  t.ok(inside.advances, 'started inside what the cache knew')
  t.notOk(inside.collectingInitialState)
  row = undefined
  inside.decide(known)
  t.ok(inside.advances, 'kept until the stream ends, whatever the row does later')
  t.equal(asked, 1, 'the row is read only for the first event')

  row = { rv: '10', changedRv: '10' }
  const after = new WatchClaim('11', false)
  after.decide(known)
  t.notOk(after.advances, 'started after what the cache knew: never advances')
  row = { rv: '12', changedRv: '12' }
  after.decide(known)
  t.notOk(after.advances, 'not even once the row caught up through another watch')
})

t.test('a watch-list advances only after its initial state was committed', async (t) => {
  const claim = new WatchClaim('', true)
  claim.decide(() => ({ rv: '10', changedRv: '10' }))
  t.ok(claim.collectingInitialState, 'the row it finds does not matter: it delivers its own complete state')
  t.notOk(claim.advances)
  claim.initialStateCommitted()
  t.notOk(claim.collectingInitialState)
  t.ok(claim.advances, 'later events continue the committed list')
})
