# b2b-etl as an image: every command of the CLI (docker compose runs the worker, the sandbox
# portal and the one-shot steps with it). Built as the README's quick start builds it.

# build: `npm ci` installs the dependencies and compiles the TypeScript (package.json's
# prepare runs tsc) into dist/
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund

# runtime: the compiled CLI, the runtime dependencies only, and what it reads at run time
# (sql/, migrations/, the sandbox portal's schema, the compose configuration)
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist/src ./dist/src
COPY sql ./sql
COPY migrations ./migrations
COPY src/sandbox/schema ./src/sandbox/schema
COPY docker ./docker
# the node image's unprivileged account owns what it writes: /sample (the generated sample's
# volume) and .data/sandbox (the sandbox portal's certificate, a volume the worker reads too)
RUN mkdir -p /sample /app/.data/sandbox && chown -R node:node /sample /app/.data
USER node
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["--help"]
