# One image for every service of the stack; compose.yaml picks the entry point per service.
#   docker build -t solutrix-local-idp:dev .     (or simply: docker compose up --build)

# --- build: install production dependencies, compiling better-sqlite3's native binding -----------
FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# npm 11 runs only the install scripts that package.json's `allowScripts` approves (better-sqlite3);
# older npm runs them all. The explicit rebuild makes the result independent of the npm version, and
# the check fails the build if the binding does not load.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').close()" \
 && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------------
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    IDP_DATA_DIR=/data/idp \
    SEED_CREDENTIALS_DIR=/credentials
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY . .
# Named volumes take owner and mode from these directories when they are first created, so the
# non-root user can write the IDP's data and the seed's credentials.
RUN mkdir -p /data/idp /credentials \
 && chown node:node /data/idp /credentials \
 && chmod 700 /data/idp /credentials
USER node
EXPOSE 3000 4000 4001
CMD ["node", "--import", "tsx", "--import", "./lib/tracing.ts", "idp/src/main.ts"]
