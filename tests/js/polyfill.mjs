// js-libp2p 3 wants Node >= 22 for Promise.withResolvers; Node 20 (Debian's) lacks only that.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
