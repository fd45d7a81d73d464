import { describe, expect, it } from 'vitest';
import { resolveLearner } from './learner.js';

const person = { id: 'https://example.edu/users/554433', type: 'Person' };

describe('resolveLearner', () => {
  it('is the actor when the actor is a Person', () => {
    expect(resolveLearner({ type: 'ViewEvent', actor: person, object: 'https://example.edu/doc' })).toBe(person.id);
  });

  it('is the attempt assignee for a GradeEvent whose actor is software', () => {
    const event = {
      type: 'GradeEvent',
      actor: { id: 'https://example.edu/autograder', type: 'SoftwareApplication' },
      object: { id: 'https://example.edu/attempts/1', type: 'Attempt', assignee: { id: 'https://example.edu/users/1', type: 'Person' } },
    };
    expect(resolveLearner(event)).toBe('https://example.edu/users/1');
  });

  it('accepts an assignee given as an IRI', () => {
    const event = { type: 'GradeEvent', actor: 'https://example.edu/autograder', object: { id: 'x', type: 'Attempt', assignee: 'https://example.edu/users/2' } };
    expect(resolveLearner(event)).toBe('https://example.edu/users/2');
  });

  it('is the assertion recipient for badge events, whoever the actor is', () => {
    const event = {
      type: 'BadgeEvent',
      actor: { id: 'https://verifier.example/app', type: 'SoftwareApplication' },
      object: { id: 'https://issuer.example/assertions/1', type: 'Assertion', recipient: { id: 'https://example.edu/users/3', type: 'Person' } },
    };
    expect(resolveLearner(event)).toBe('https://example.edu/users/3');
  });

  it('turns an OB 2.0 identity object into type:identity', () => {
    const event = {
      type: 'BadgeEvent',
      actor: 'https://issuer.example',
      object: { id: 'https://issuer.example/assertions/2', type: 'Assertion', recipient: { type: 'email', hashed: true, identity: 'sha256$abc' } },
    };
    expect(resolveLearner(event)).toBe('email:sha256$abc');
  });

  it('uses a generated Assertion when the object is a BadgeClass, else the Person actor', () => {
    const generated = { id: 'https://issuer.example/assertions/3', type: 'Assertion', recipient: 'https://example.edu/users/4' };
    expect(resolveLearner({ type: 'BadgeEvent', actor: 'https://issuer.example', object: { id: 'b', type: 'BadgeClass' }, generated })).toBe('https://example.edu/users/4');
    expect(resolveLearner({ type: 'BadgeEvent', actor: person, object: 'https://issuer.example/badges/1' })).toBe(person.id);
  });
});
