import { setTimeout as sleep } from 'node:timers/promises';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { clusterProject, isRunning, stopNodes, until, untilNodesUp, type NodeProcess } from '../support/cluster.ts';
import { natsClusterForSuite } from '../support/nats-server.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * A node that starts while JetStream cannot answer yet: a 3-server cluster with two servers
 * down has no JetStream quorum (the state of a fresh cluster electing its leaders, or of two
 * nodes creating an R3 bucket at once, only longer and on purpose). Core NATS connects fine.
 */
describe('a node starting before JetStream is ready', () => {
  const suite = natsClusterForSuite();

  const quorumLost = async () => {
    await Promise.all(suite.cluster.servers.slice(1).map((s) => s.halt()));
  };
  const quorumBack = async () => {
    await Promise.all(suite.cluster.servers.slice(1).filter((s) => !s.isRunning).map((s) => s.restart()));
  };

  it('waits for JetStream (saying so) instead of exiting, then comes up and runs tasks', async () => {
    const cluster = clusterProject({
      servers: suite.cluster.urls,
      bucket: 'su-tasks',
      nats: { prefix: 'su', stream: 'SU_SUBMIT', replicas: 3, startupTimeoutMs: 60_000 },
      agents: { echo: { module: fixtureAgent('echo.ts') } },
    });
    const nodes: NodeProcess[] = [];
    try {
      await quorumLost();
      nodes.push(cluster.start('node-a'));
      // A JetStream request without a quorum times out after a few seconds, then it is retried.
      await until(() => nodes[0]!.stderrText(), (text) => text.includes('JetStream is not ready yet') || !isRunning(nodes[0]!), 20_000, (text) => text);
      await sleep(1_000);
      expect(isRunning(nodes[0]!), `exited: ${nodes[0]!.stderrText().slice(-2000)}`).toBe(true);

      await quorumBack();
      await untilNodesUp(cluster, ['node-a'], 40_000, nodes);
      const submitted = await cluster.cli(['submit', 'echo', '--input', '{"n":1}', '--wait', '--json']);
      expect(submitted.code, submitted.stderr).toBe(0);
      expect(JSON.parse(submitted.stdout)).toMatchObject({ state: 'succeeded' });
      expect(await stopNodes(nodes.splice(0))).toEqual([0]);
    } finally {
      await stopNodes(nodes);
      await quorumBack();
      cluster.remove();
    }
  }, 120_000);

  it('gives up after nats.startupTimeoutMs with exit 5 and the reason', async () => {
    const cluster = clusterProject({
      servers: suite.cluster.urls,
      bucket: 'sv-tasks',
      nats: { prefix: 'sv', stream: 'SV_SUBMIT', replicas: 3, startupTimeoutMs: 3_000 },
      agents: { echo: { module: fixtureAgent('echo.ts') } },
    });
    const nodes: NodeProcess[] = [];
    try {
      await quorumLost();
      nodes.push(cluster.start('node-a'));
      const code = await Promise.race([nodes[0]!.exited, sleep(30_000).then(() => 'still running')]);
      expect(code, nodes[0]!.stderrText().slice(-2000)).toBe(5);
      expect(nodes[0]!.stderrText()).toMatch(/KV bucket sv-tasks/);
    } finally {
      await stopNodes(nodes);
      await quorumBack();
      cluster.remove();
    }
  }, 120_000);

  it('waits out the write token a killed incarnation left on its node record instead of exiting', async () => {
    const cluster = clusterProject({
      servers: suite.cluster.urls,
      bucket: 'tk-tasks',
      nats: { prefix: 'tk', stream: 'TK_SUBMIT', replicas: 3 },
      agents: { echo: { module: fixtureAgent('echo.ts') } },
    });
    const nodes: NodeProcess[] = [];
    const nc = await connect({ servers: suite.cluster.urls });
    try {
      nodes.push(cluster.start('node-a'));
      await untilNodesUp(cluster, ['node-a'], 40_000, nodes);
      nodes[0]!.kill('SIGKILL');
      await nodes[0]!.exited;
      // What a kill between winning the token and the update leaves (serial-cas.ts): the token
      // of the record's current revision, held by the dead process, for up to 30 s.
      const record = await (await new Kvm(nc).open('tk-tasks')).get('n.node-a');
      const tokens = await new Kvm(nc).open('tk-tasks-cas');
      await tokens.create(`n.node-a.${record!.revision}`, 'dead-incarnation');

      nodes.push(cluster.start('node-a'));
      await until(() => nodes[1]!.stderrText(), (text) => text.includes('the store does not answer yet') || !isRunning(nodes[1]!), 20_000, (text) => text);
      await sleep(500);
      expect(isRunning(nodes[1]!), `exited: ${nodes[1]!.stderrText().slice(-2000)}`).toBe(true);
      // The token expiring, sooner than its 30 s.
      await tokens.delete(`n.node-a.${record!.revision}`);
      await untilNodesUp(cluster, ['node-a'], 20_000, nodes.slice(1));
      expect(await stopNodes(nodes.splice(0))).toEqual([null, 0]);
    } finally {
      await stopNodes(nodes);
      await nc.close();
      cluster.remove();
    }
  }, 120_000);
});
