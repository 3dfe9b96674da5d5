// `npm run demo`: the main job. The full demo (simulate a year, train, stream a live day) lands with issue 5;
// until then it says so and points at what runs today.
console.log(`tagstream demo: coming.

The full demo (simulate a year of rentals, train and promote models, stream a live day with a live view)
lands with the output-layer work. What runs today:

  npm run stack -- up      start Kafka (KRaft) and the schema registry, migrate MariaDB, check Redis
  npm run pipeline         run the ingest pipeline: rfid.scans / pos.transactions -> clean.* and dlq.*
  npm test                 unit tests, and integration tests on the real stack
`);
