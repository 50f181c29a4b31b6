import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DadataProvider, parseAnswer } from '../../src/registry/dadata.js';
import { DadataStub, readFixture, suggestion, type PartyFixture } from '../../src/registry/dadata-stub.js';
import type { RegistryRecord } from '../../src/registry/provider.js';

const legal = readFixture('party-legal.json');
const individual = readFixture('party-individual.json');
const text = (f: PartyFixture) => JSON.stringify(f.response.body);

// What each recorded answer says, read off the fixture by hand: the parser must find it.
const SBERBANK: RegistryRecord = {
  inn: '7707083893', status: 'ACTIVE', liquidationDate: null,
  fullName: 'ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО "СБЕРБАНК РОССИИ"', shortName: 'ПАО СБЕРБАНК', legalForm: 'ПАО',
  kpp: '773601001', ogrn: '1027700132195', address: 'г Москва, ул Вавилова, д 19', head: 'Греф Герман Оскарович',
};
const ENTREPRENEUR: RegistryRecord = {
  inn: '771412345602', status: 'LIQUIDATED', liquidationDate: '2021-12-31',
  fullName: 'Индивидуальный предприниматель Петрова Анна Сергеевна', shortName: 'ИП Петрова Анна Сергеевна', legalForm: 'ИП',
  kpp: null, ogrn: '318774600123452', address: 'г Москва', head: 'Петрова Анна Сергеевна',
};

describe('DaData findById/party against answers recorded from its documentation', () => {
  it('reads a legal entity and an individual entrepreneur from the recorded answers', () => {
    expect(parseAnswer(legal.request.body.query, text(legal))).toMatchObject({ found: true, record: SBERBANK });
    expect(parseAnswer(individual.request.body.query, text(individual))).toMatchObject({ found: true, record: ENTREPRENEUR });
    expect(parseAnswer('7707083894', '{"suggestions":[]}')).toMatchObject({ found: false });
  });

  it('the stub answers exactly as recorded: every value it writes goes where the recording has it', () => {
    expect(suggestion(SBERBANK)).toEqual(legal.response.body.suggestions[0]);
    expect(suggestion(ENTREPRENEUR)).toEqual(individual.response.body.suggestions[0]);
  });

  describe('over HTTP', () => {
    const stub = new DadataStub({ token: 'fixture-key', companies: new Map([[SBERBANK.inn, SBERBANK], [ENTREPRENEUR.inn, ENTREPRENEUR]]) });
    let provider: DadataProvider;
    beforeAll(async () => {
      provider = new DadataProvider({ baseUrl: await stub.start(), token: 'fixture-key' });
    });
    afterAll(async () => {
      await provider.close();
      await stub.stop();
    });

    it('the provider calls the recorded path with the recorded authorisation and reads both kinds of answer', async () => {
      expect(await provider.lookup(SBERBANK.inn)).toMatchObject({ found: true, record: SBERBANK });
      expect(await provider.lookup(ENTREPRENEUR.inn)).toMatchObject({ found: true, record: ENTREPRENEUR });
      expect(stub.requests.map((r) => [r.inn, r.status])).toEqual([[SBERBANK.inn, 200], [ENTREPRENEUR.inn, 200]]);
    });

    it('a key the service does not know is a configuration error naming the setting', async () => {
      const wrong = new DadataProvider({ baseUrl: stub.url, token: 'not-the-key' });
      try {
        await expect(wrong.lookup(SBERBANK.inn)).rejects.toThrow(/DaData refused the request: 401 .*check DADATA_TOKEN/);
      } finally {
        await wrong.close();
      }
    });
  });
});
