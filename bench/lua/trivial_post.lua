-- The ceiling's POST: the same size of JSON body as an ingest request, to a route that reads it and
-- answers a small JSON object. Used with wrk against bench/trivial_server.py.
wrk.method = "POST"
wrk.path = "/echo"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"node":"node-7","source":"playwright","spec":"tests/e2e/ceiling/t1/area7.spec.ts",'
  .. '"test":"case 1-123456 still fails","message":"expect(locator).toBeVisible() failed: '
  .. 'waiting for getByRole(button, name: Pay)","stack":"Error: expect failed\\n    at '
  .. 'tests/e2e/checkout.spec.ts:42:31","priority":3}'
