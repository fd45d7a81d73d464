/**
 * A generated history of badge and learning events with known facts, for the reporting tests and
 * benchmark: each event comes with what it is about (tenant, action, badge class, issuer,
 * recipient, actor, edApp, time), written down by the generator itself, so expected figures are
 * computed from what was generated, not from how reporting reads events.
 */
import { randomUUID } from 'node:crypto';
import { Partitioners, type Kafka } from 'kafkajs';
import { TOPICS, frameJson } from '@badgestream/platform';
import { seededRandom } from './random.js';

const OB_CONTEXT = ['https://w3id.org/badgestream/caliper/open-badges/v1', 'http://purl.imsglobal.org/ctx/caliper/v1p2'];
const CALIPER = 'http://purl.imsglobal.org/ctx/caliper/v1p2';

export interface Known {
  tenant: string;
  eventId: string;
  /** Badge actions as they are; learning events as Type:Action. */
  action: string;
  time: number;
  badgeClass: string;
  issuer: string;
  recipient: string;
  actor: string;
  edApp: string;
  badge: boolean;
}

export interface GeneratedEvent {
  known: Known;
  key: string;
  event: Record<string, unknown>;
}


export interface HistoryOptions {
  tenant: string;
  /** Events to generate, at least (whole learner journeys are kept). */
  events: number;
  seed: number;
  /** Badge classes and issuers: the same names in two tenants are still two tenants' badges. */
  badgeClasses?: number;
  issuers?: number;
  learners?: number;
  /** The year events fall in. */
  year?: number;
}

export const badgeClassIri = (i: number) => `https://badges.example.edu/badgeclasses/b${i}`;
export const issuerIri = (i: number) => `https://badges.example.edu/issuers/${i}`;
const VERIFIERS = ['https://verify.example.org', 'https://verify.example.net', 'https://careers.example.com/verifier'];
const EMPLOYERS = ['https://careers.example.com', 'https://jobs.example.org'];
const BACKPACKS = ['https://backpack.example.net', 'https://wallet.example.com'];

/**
 * Learner journeys: per badge class pursued, perhaps Assigned and Applied, a few learning events
 * (graded quizzes, logins), then for most Demonstrated and Issued, and after that shares, views of
 * the shares, verifications, acceptances, and now and then a revocation. A few Verified and
 * Accessed name the assertion by IRI only (no badge class).
 */
export function generateHistory(options: HistoryOptions): GeneratedEvent[] {
  const rnd = seededRandom(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const badgeCount = options.badgeClasses ?? 12;
  const issuerCount = options.issuers ?? 3;
  const learners = options.learners ?? Math.max(50, Math.ceil(options.events / 50));
  const year = options.year ?? 2025;
  const yearStart = Date.UTC(year, 0, 1);
  const yearMs = Date.UTC(year + 1, 0, 1) - yearStart;
  const out: GeneratedEvent[] = [];
  const emit = (known: Omit<Known, 'tenant' | 'eventId'>, event: Record<string, unknown>, learner: string) => {
    const eventId = `urn:uuid:${randomUUID()}`;
    out.push({ known: { ...known, tenant: options.tenant, eventId }, key: `${options.tenant}|${learner}`, event: { ...event, id: eventId, eventTime: new Date(known.time).toISOString() } });
  };
  const issuerOf = (b: number) => issuerIri(b % issuerCount);
  const badgeClassEntity = (b: number) => ({ id: badgeClassIri(b), type: 'BadgeClass', name: `Badge ${b}`, issuer: issuerOf(b) });

  while (out.length < options.events) {
    const learnerNo = Math.floor(rnd() * learners);
    const learner = `https://example.edu/users/${learnerNo}`;
    const b = Math.floor(rnd() ** 1.6 * badgeCount);
    const badgeClass = badgeClassIri(b);
    const issuer = issuerOf(b);
    // Journeys start in the first 10 months, so most of them finish within the year.
    let t = yearStart + Math.floor(rnd() * yearMs * 0.83);
    const step = (maxHours: number) => (t += 60_000 + Math.floor(rnd() * maxHours * 3_600_000));
    const person = { id: learner, type: 'Person' };
    const app = 'https://lms.example.edu';
    const edApp = { id: app, type: 'SoftwareApplication' };
    if (rnd() < 0.7) {
      emit({ action: 'Assigned', time: t, badgeClass, issuer, recipient: learner, actor: learner, edApp: app, badge: true }, { '@context': OB_CONTEXT, type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor: person, action: 'Assigned', object: badgeClassEntity(b), edApp }, learner);
      step(48);
    }
    if (rnd() < 0.5) {
      emit({ action: 'Applied', time: t, badgeClass, issuer, recipient: learner, actor: learner, edApp: app, badge: true }, { '@context': OB_CONTEXT, type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor: person, action: 'Applied', object: badgeClassEntity(b), edApp }, learner);
      step(24);
    }
    const learning = 1 + Math.floor(rnd() * 8);
    for (let i = 0; i < learning; i++) {
      if (rnd() < 0.6) {
        const quiz = `https://example.edu/courses/${b}/quizzes/${i}`;
        emit(
          { action: 'GradeEvent:Graded', time: t, badgeClass: '', issuer: '', recipient: learner, actor: 'https://example.edu/autograder', edApp: '', badge: false },
          {
            '@context': CALIPER,
            type: 'GradeEvent',
            profile: 'GradingProfile',
            actor: { id: 'https://example.edu/autograder', type: 'SoftwareApplication' },
            action: 'Graded',
            object: { id: `${learner}/attempts/${b}-${i}`, type: 'Attempt', assignee: person, assignable: { id: quiz, type: 'Assessment' }, count: 1 },
            generated: { id: `${learner}/attempts/${b}-${i}/score`, type: 'Score', attempt: `${learner}/attempts/${b}-${i}`, maxScore: 10, scoreGiven: Math.floor(rnd() * 11) },
          },
          learner,
        );
      } else {
        emit({ action: 'SessionEvent:LoggedIn', time: t, badgeClass: '', issuer: '', recipient: learner, actor: learner, edApp: app, badge: false }, { '@context': CALIPER, type: 'SessionEvent', profile: 'SessionProfile', actor: person, action: 'LoggedIn', object: { id: app, type: 'SoftwareApplication' }, edApp }, learner);
      }
      step(72);
    }
    if (rnd() < 0.25) continue;
    emit({ action: 'Demonstrated', time: t, badgeClass, issuer, recipient: learner, actor: learner, edApp: 'https://w3id.org/badgestream/agents/criteria', badge: true }, { '@context': OB_CONTEXT, type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor: person, action: 'Demonstrated', object: badgeClassEntity(b), edApp: { id: 'https://w3id.org/badgestream/agents/criteria', type: 'SoftwareApplication' } }, learner);
    step(12);
    const assertionId = `https://badges.example.edu/assertions/${options.tenant}-${out.length}`;
    // Half the assertions embed their badge class (with its issuer), half name it by IRI.
    const assertion = { id: assertionId, type: 'Assertion', badge: rnd() < 0.5 ? badgeClassEntity(b) : badgeClass, recipient: person, issuedOn: new Date(t).toISOString() };
    const issuerApp = 'https://badges.example.edu';
    emit({ action: 'Issued', time: t, badgeClass, issuer: typeof assertion.badge === 'object' ? issuer : '', recipient: learner, actor: issuerApp, edApp: issuerApp, badge: true }, { '@context': OB_CONTEXT, type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor: { id: issuerApp, type: 'SoftwareApplication' }, action: 'Issued', object: assertion, edApp: { id: issuerApp, type: 'SoftwareApplication' } }, learner);
    const issued = t;
    const consumer = (action: string, actor: string, actorType: string, app: string, byIri = false) => {
      const time = issued + 60_000 + Math.floor(rnd() * 60 * 24 * 3_600_000);
      const known = byIri
        ? { action, time, badgeClass: '', issuer: '', recipient: '', actor, edApp: app, badge: true }
        : { action, time, badgeClass, issuer: '', recipient: learner, actor, edApp: app, badge: true };
      const withIssuer = !byIri && typeof assertion.badge === 'object' ? { ...known, issuer } : known;
      emit(withIssuer, { '@context': OB_CONTEXT, type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor: { id: actor, type: actorType }, action, object: byIri ? assertionId : assertion, ...(app ? { edApp: { id: app, type: 'SoftwareApplication' } } : {}) }, byIri ? actor : learner);
    };
    const shares = Math.floor(rnd() * 3.2);
    for (let s = 0; s < shares; s++) {
      const backpack = pick(BACKPACKS);
      consumer('Shared', learner, 'Person', backpack);
      const views = Math.floor(rnd() * 5);
      for (let v = 0; v < views; v++) consumer('Accessed', `https://careers.example.com/recruiters/${Math.floor(rnd() * 40)}`, 'Person', '', rnd() < 0.1);
    }
    const verifications = Math.floor(rnd() * 2.5);
    for (let v = 0; v < verifications; v++) {
      const verifier = pick(VERIFIERS);
      consumer('Verified', verifier, 'SoftwareApplication', verifier, rnd() < 0.15);
    }
    if (rnd() < 0.35) consumer('Accepted', pick(EMPLOYERS), 'Organization', '');
    if (rnd() < 0.04) {
      const time = issued + Math.floor(rnd() * 90 * 24 * 3_600_000);
      emit(
        { action: 'Revoked', time, badgeClass, issuer: typeof assertion.badge === 'object' ? issuer : '', recipient: learner, actor: issuerApp, edApp: '', badge: true },
        { '@context': OB_CONTEXT, type: 'BadgeEvent', profile: 'OpenBadgesProfile', actor: { id: issuerApp, type: 'SoftwareApplication' }, action: 'Revoked', object: { ...assertion, revoked: true, revocationReason: 'issued in error' } },
        learner,
      );
    }
  }
  return out;
}

/** Record headers as ingest writes them. */
export function ingestHeaders(known: Known, receivedAt: string): Record<string, string> {
  return {
    'badgestream-tenant': known.tenant,
    'badgestream-event-id': known.eventId,
    'caliper-data-version': CALIPER,
    'caliper-sensor': 'https://example.edu/sensors/1',
    'badgestream-received-at': receivedAt,
  };
}

/** Writes events to caliper.events as ingest does (key tenant|learner, framed through the registry, ingest's headers), in batches. */
export async function produceHistory(kafka: Kafka, schemaId: number, events: readonly GeneratedEvent[], batch = 2000): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const receivedAt = new Date().toISOString();
    for (let i = 0; i < events.length; i += batch) {
      await producer.send({
        topic: TOPICS.events,
        acks: -1,
        messages: events.slice(i, i + batch).map((e) => ({ key: e.key, value: frameJson(schemaId, e.event), headers: ingestHeaders(e.known, receivedAt) })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}
