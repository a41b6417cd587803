"use strict";
// What a team's script does with Opsgenie's official Node SDK, unchanged but for the host:
// create an alert, poll its request, read it, acknowledge, note, unacknowledge, snooze,
// escalate, close, list.
// Prints every answer as one JSON object for tests/e2e/test_clients.py to check.
// PAGER_URL, GENIE_KEY and ALIAS come from the environment; NODE_EXTRA_CA_CERTS trusts the
// test's self-signed certificate.

const opsgenie = require("opsgenie-sdk");

opsgenie.configure({ host: process.env.PAGER_URL, api_key: process.env.GENIE_KEY });
const alerts = opsgenie.alertV2;

function call(method, ...args) {
  return new Promise((resolve, reject) => {
    method(...args, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

async function main() {
  const alias = process.env.ALIAS;
  const answers = {};
  answers.create = await call(alerts.create, {
    message: "Queue depth above 10k",
    alias,
    priority: "P2",
    tags: ["queue"],
  });
  answers.createStatus = await call(alerts.getRequestStatus, answers.create.requestId);
  const byId = { identifier: answers.createStatus.data.alertId, identifierType: "id" };
  const byAlias = { identifier: alias, identifierType: "alias" };
  answers.get = await call(alerts.get, byId);
  answers.getByAlias = await call(alerts.get, byAlias);

  const acknowledged = await call(alerts.acknowledge, byId, { user: "node", note: "on it" });
  answers.acknowledgeStatus = await call(alerts.getRequestStatus, acknowledged.requestId);
  answers.afterAcknowledge = await call(alerts.get, byId);

  const noted = await call(alerts.addNote, byAlias, { user: "node", note: "rolled back" });
  answers.noteStatus = await call(alerts.getRequestStatus, noted.requestId);

  const unacknowledged = await call(alerts.unacknowledge, byAlias, { user: "node" });
  answers.unacknowledgeStatus = await call(alerts.getRequestStatus, unacknowledged.requestId);
  answers.afterUnacknowledge = await call(alerts.get, byId);

  const endTime = new Date(Date.now() + 3600 * 1000).toISOString();
  const snoozed = await call(alerts.snooze, byAlias, { endTime, user: "node", note: "later" });
  answers.snoozeStatus = await call(alerts.getRequestStatus, snoozed.requestId);
  answers.afterSnooze = await call(alerts.get, byId);
  answers.snoozedUntil = endTime;

  const escalation = { escalation: { name: "Ops on call" }, user: "node" };
  const escalated = await call(alerts.escalateToNext, byId, escalation);
  answers.escalateStatus = await call(alerts.getRequestStatus, escalated.requestId);
  answers.afterEscalate = await call(alerts.get, byId);

  const closed = await call(alerts.close, byAlias, { user: "node" });
  answers.closeStatus = await call(alerts.getRequestStatus, closed.requestId);
  answers.afterClose = await call(alerts.get, byId);
  // "status: closed", with the space: the SDK's requestretry 7 takes a query value like
  // "status:closed" for a URL to another host and drops the Authorization header.
  answers.list = await call(alerts.list, { query: "status: closed", limit: 10 });
  process.stdout.write(JSON.stringify(answers));
}

main().catch((error) => {
  process.stderr.write(`failed: ${JSON.stringify(error)} ${error}\n`);
  process.exit(1);
});
