import type { Criteria } from '@badgestream/schemas';

export type { Criteria };
/** A node of the requirement tree: an event requirement or a group. */
export type Requirement = Criteria['requirement'];
export type EventRequirement = Extract<Requirement, { match: unknown }>;
export type EventMatch = EventRequirement['match'];
export type EntityMatch = NonNullable<EventMatch['object']>;
export type Condition = NonNullable<EventRequirement['where']>[number];
export type Penalty = NonNullable<Criteria['penalties']>[number];
export type Prerequisite = NonNullable<Criteria['prerequisites']>[number];

/** The part of a Caliper event the engine reads: any JSON object with the Caliper event fields. */
export type CaliperEventLike = Record<string, unknown>;

/**
 * What the engine keeps of an event for one criteria: small, so that progress stays small.
 * `hits` are the requirements (event requirements, penalties, prerequisites) whose `match`
 * selects the event, each with whether its conditions hold and its latestBy / distinct key.
 */
export interface Fact {
  id: string;
  eventTime: string;
  /** eventTime in epoch milliseconds. */
  at: number;
  type: string;
  action: string;
  object?: string;
  hits: Hit[];
}

export interface Hit {
  /** An event requirement id, a penalty id, or `prerequisite:<badge class IRI>`. */
  requirement: string;
  /** Whether the requirement's `where` conditions hold for this event. */
  passes: boolean;
  /** The latestBy key or the distinct value, when the requirement has one. */
  key?: string;
}
